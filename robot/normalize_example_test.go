package robot_test

import (
	"fmt"

	"github.com/anther-robotics/anther/robot"
)

// A recorder names and scales an SO-101's joints as LeRobot does: degrees
// for the body, 0–100 % of the calibrated range for the gripper.
func ExampleNormalizer() {
	d, _ := robot.Load("so101-follower")
	cal, _ := robot.ReadCalibration("testdata/so101_follower_calibration.json")
	z, _ := robot.NewNormalizer(d, cal, nil)
	var pos [robot.MaxJoints]float64
	pos[0] = 0.5 // rad
	pos[5] = robot.NewTickMap(d.Joints[5], robot.Motors["sts3215"], ptr(cal["gripper"])).Radians(2030 + 0.25*(3500-2030))
	v := make([]float32, z.N())
	z.FromRadians(v, &pos)
	fmt.Printf("%s = %.2f, %s = %.2f\n", z.Names()[0], v[0], z.Names()[5], v[5])
	// Output: shoulder_pan.pos = 28.65, gripper.pos = 25.00
}

func ptr[T any](v T) *T { return &v }
