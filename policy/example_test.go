package policy_test

import (
	"fmt"

	"github.com/anther-robotics/anther/policy"
)

// A spec names the policy's joints, how its observation is assembled and
// how its output becomes joint targets.
func ExampleParseSpec() {
	spec, err := policy.ParseSpec("walker.yaml", ".", []byte(`
rate: 50
joints: [hip, knee]
inputs:
  - name: obs
    history: 2
    terms:
      - {kind: projected_gravity}
      - {kind: joint_pos_rel}
      - {kind: joint_vel, scale: 0.05}
      - {kind: last_action}
action: {output: actions, scale: 0.25, offset: default, clip: [-100, 100]}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range spec.Describe() {
		fmt.Println(line)
	}
	// Output:
	// obs: projected_gravity 0:6, joint_pos_rel 6:10, joint_vel 10:14, last_action 14:18 (18 values, history 2 (term layout, oldest first, starts with zeros))
}
