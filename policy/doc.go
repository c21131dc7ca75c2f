// Package policy runs learned policies in anther's control loop without
// letting inference stall it.
//
// A Spec is the policy's contract with the robot — its joint order, the
// observation terms (joint positions relative to defaults, velocities, IMU
// gravity and gyro, commands, gait phase, last action, LeRobot state and
// images) with their scales, order, history length and layout, the action's
// scale/offset/clip, its rate, chunking, recurrent state and normalization.
// LoadSpec finds it in a YAML sidecar (anther's format or a Berkeley Humanoid
// Lite config), in the model's metadata_props, or derives it from
// holosoma-style metadata.
//
// New binds a spec to a Session (ONNX Runtime in policy/ort; a plain-Go
// reference in policy/policytest) and a robot description: Policy.Infer
// builds the input tensors, runs the model and turns its output into joint
// targets without allocating.
//
// A Runner runs a Policy on its own goroutine, locked to an OS thread, and
// implements control.Source: on the loop's thread it snapshots the state at
// each policy step, wakes the inference thread with one futex call, and reads
// the newest action (MLPs) or the current step of the aggregated action chunk
// (latest-only, weighted average, ACT temporal ensembling) from a wait-free
// triple buffer. When inference falls behind, the loop's staleness watchdog
// holds the robot; NaN actions trip the loop's invalid-source watchdog.
//
// Normalization follows LeRobot (stats.json; mean_std, min_max, quantiles).
package policy
