package telemetry_test

import (
	"fmt"

	"github.com/anther-robotics/anther/telemetry"
)

// A fleet tool moves a robot's joints by publishing on
// anther/<robot-id>/cmd/goto; the robot parses the payload like this and
// answers on anther/<robot-id>/cmd/goto/reply with the same id.
func ExampleParseCommand() {
	c, err := telemetry.ParseCommand(telemetry.VerbGoto,
		[]byte(`{"version":1,"id":"op-17","targets":{"body_rotation":0.5}}`))
	fmt.Println(c.ID, c.Targets["body_rotation"], err)

	_, err = telemetry.ParseCommand(telemetry.VerbGoto, []byte(`{"version":1,"targets":{"body_rotation":"far"}}`))
	fmt.Println(err != nil)
	// Output:
	// op-17 0.5 <nil>
	// true
}

func ExampleTopic() {
	fmt.Println(telemetry.Topic("arm-3", telemetry.TopicState))
	fmt.Println(telemetry.Topic("arm-3", telemetry.TopicCmd) + "/" + telemetry.VerbEStop)
	// Output:
	// anther/arm-3/state
	// anther/arm-3/cmd/estop
}
