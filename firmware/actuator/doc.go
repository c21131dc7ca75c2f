// Package actuator is the device side of a ROBOTIS Dynamixel X-series servo
// (Protocol 2.0), written as its firmware would be: a control table with an
// EEPROM and a RAM area, the instruction handler, and the position, velocity
// and current loops that turn the table into a motor drive. The simulator
// (package sim) hosts Devices on a virtual bus; board files under
// firmware/boards run the same Device on a microcontroller with TinyGo.
//
// # Control table
//
// Every model's table (Model.Fields) lists its items with address, size,
// access (R or RW), signedness, valid range and default, after hardware.md
// §3.8. Addresses below 64 are the EEPROM area: they survive REBOOT and
// power cycles, and writing them while Torque Enable (64) is 1 is refused
// with an access error (7). Writes must cover whole items (else data length
// error, 5), may only touch RW items (else access error, 7), and each value
// must lie in its item's range (else data range error, 4). Goal values are
// further checked against the configured limits (data limit error, 6):
// Goal Position against Min/Max Position Limit in position mode (3), Goal
// Velocity, Goal Current and Goal PWM against Velocity, Current and PWM
// Limit. A write is checked as a whole before any of it is applied. Reads
// may cover reserved bytes (they read 0) but not run past the end of the
// modelled table (access error). Indirect Address/Data items map each data
// byte to the byte at the address it holds, for reads and writes.
//
// # Status packets
//
// The ERR byte of every status carries the Alert bit (0x80) while Hardware
// Error Status (70) is non-zero. Status Return Level (68) says which
// instructions get a reply: 0 only PING, 1 also the reads, 2 everything.
// Broadcast instructions get no reply, except PING (every device answers,
// in ID order) and the SYNC/BULK reads (the listed devices answer in the
// order of the request). Return Delay Time (9, 2 µs units) is reported by
// Device.ReturnDelay for the bus to wait before each reply.
//
// # Motor model
//
// The drive is a DC motor behind an H-bridge, seen at the output shaft. With
// duty cycle d in [-1, 1] (Present PWM / 885), supply voltage V, nominal
// voltage Vn, stall torque τs and no-load speed ω0 (both at Vn):
//
//	τ = τs · (d·V/Vn − ω/ω0)        current i = τ / kt,  kt = τs / i_stall
//
// that is, PWM duty times stall torque minus the back-EMF term. Torque off
// leaves the windings open: τ = 0, i = 0 (the joint is back-drivable).
//
// The loops follow the X-series block diagrams, run every Control call (the
// caller's dt, typically the simulator's 250 µs substep), with positions in
// pulses (4096 per turn) and the gains scaled as the e-Manual states
// (KPP = P/128, KPI = I/65536, KPD = D/16, KVP = P/128, KVI = I/65536, KFF =
// FF/4); the integral and derivative use a 1 ms time unit, as if the loop
// were sampled at 1 kHz. The PID output is in PWM units (±885):
//
//   - position (3) and extended position (4): a profile (Profile Velocity
//     112 and Profile Acceleration 108: trapezoid, triangle, rectangle or
//     step; time-based when Drive Mode bit 2 is set) moves the desired
//     position toward Goal Position; the position PID plus feedforward gives
//     the PWM;
//   - velocity (1): the profile ramps the desired velocity toward Goal
//     Velocity; a velocity PI gives the PWM;
//   - current (0): an ideal current loop makes i = Goal Current (limited by
//     the voltage available);
//   - current-based position (5): the position PID output, read as a
//     fraction of the stall current and bounded by Goal Current, is the
//     current demand of that ideal current loop;
//   - PWM (16): Goal PWM is the duty.
//
// The output is always bounded by Goal PWM and PWM Limit.
//
// # Protection
//
// A thermal model heats the motor with the winding losses i²R (R = Vn /
// i_stall) through a thermal resistance and cools it toward the ambient
// temperature with a time constant, so a stalled motor really overheats.
// Overload trips after the drive has sat saturated near stall for
// OverloadTime; input voltage error when the supply leaves Min/Max Voltage
// Limit; encoder and electrical-shock errors only by fault injection. A
// condition whose bit is set in Shutdown (63) is latched in Hardware Error
// Status (70), clears Torque Enable, refuses Torque Enable = 1 (result fail)
// and sets Alert on every status until REBOOT (which re-trips at once if the
// condition persists).
//
// # Real-time use
//
// Handle and Control do not allocate once the caller's reply buffer is large
// enough (dynamixel.MaxPacket bytes), and take time bounded by the packet
// size. A Device is not safe for concurrent use: its bus owns it.
package actuator
