// Package robot is the leaf of anther: value types, typed units, the small
// interfaces hardware implements, the robot description (YAML, with built-in
// profiles embedded) and LeRobot-compatible calibration files.
//
// It does no I/O beyond reading a description or calibration the caller
// names, and imports only the standard library and a YAML parser. Everything
// the real-time loop touches (State, Command) is a struct of fixed arrays
// indexed by a JointIndex resolved once at configure time: no maps, no names
// and no allocation inside a tick.
package robot
