package ort_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/anther-robotics/anther/policy"
	"github.com/anther-robotics/anther/policy/ort"
	"github.com/anther-robotics/anther/robot"
)

// Load a policy for a robot and run it on its own thread; install the
// runner on the control loop with loop.SetSource(name, r, r.Stale()).
func ExampleRuntime_Load() {
	rt, err := ort.Open("", slog.Default()) // --ort-lib, $ORT_LIB, then the cache
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	d, err := robot.Load("policy/testdata/g1_29dof.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := rt.Load("holosoma_ppo_g1_29dof.onnx", ort.LoadConfig{Policy: policy.Config{Robot: d}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	r := policy.NewRunner(l.Policy, policy.RunnerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	_ = r.SetCommand("lin_vel_x", 0.5)
	fmt.Println(l.Spec.Rate, r.Stale())
}
