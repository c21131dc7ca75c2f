// Package sts3215 is the device side of a Feetech STS3215 serial-bus servo,
// the motor of the SO-100/SO-101 arms, written as its firmware would be: a
// control table with an EEPROM area and a lock, the instruction handler of
// the Feetech protocol (drivers/feetech), and the position, velocity and PWM
// loops that turn the table into a motor drive. The simulator (package sim)
// hosts Devices on its virtual Feetech bus.
//
// # Control table
//
// The table is spec/hardware.md §4.2 (the registers of feetech.Register).
// Addresses below 40 (Torque_Enable) are the EEPROM area, the rest RAM.
// Reads return any bytes (unmodelled ones read 0). Writes go byte by byte:
// bytes of read-only items, and bytes past the table, are ignored, as the
// protocol has no error code to refuse them. Multi-byte fields are
// little-endian; Homing_Offset (sign bit 11), Goal/Present Position and
// Velocity and Present_Current (bit 15) and Present_Load (bit 10) are
// sign-magnitude.
//
// Lock (55) guards the EEPROM: it is 1 after power-up, and then EEPROM
// writes take effect at once but are not saved, so a power cycle brings
// the saved values back; with Lock 0 they are saved too. (This follows
// Feetech's description of the lock flag; LeRobot clears Lock before it
// writes calibration and sets it again with torque.)
//
// # Instructions
//
// PING, READ, WRITE, REG_WRITE, ACTION, SYNC_READ, SYNC_WRITE, RESET (both
// 0x06 and the SDK's 0x0A: factory settings, ID and baud included) and
// OFSCAL (0x0B: Homing_Offset so that the present position reads 2048).
// A packet with a bad checksum is never seen (the bus's decoder drops it),
// and an instruction the servo does not know gets no reply. Broadcast
// instructions get no reply, except PING (every servo answers, in ID
// order) and SYNC_READ (the listed servos answer in the order listed).
// Response_Status_Level (8) 0 silences every reply but those to PING and
// READ. The status byte carries the servo's active fault conditions
// (feetech.StatusError bits). Return_Delay_Time (7, 2 µs units) is reported
// in Reply.Delay for the bus to wait before each reply.
//
// # Drive
//
// A DC motor behind an H-bridge, seen at the output shaft: with duty d in
// [−1, 1], supply V, nominal voltage Vn, stall torque τs and no-load speed
// ω0, τ = τs·(d·V/Vn − ω/ω0); torque off leaves the shaft free. Operating
// mode 0 (position) moves a desired position toward Goal_Position (clamped
// into Min/Max_Position_Limit) under a trapezoid of Goal_Velocity (steps/s,
// 0: none) and Acceleration (100 steps/s², 0: none); a PID with the P, D and
// I coefficients (duty per tick: P/2048; D/2048 per tick per 10 ms; I/2048
// per tick·100 ms) drives it there, outside the CW/CCW dead zones. Mode 1
// (wheel) follows Goal_Velocity, mode 2 takes the duty from Goal_Time
// (±1000). The duty is bounded by Torque_Limit (0.1 %).
//
// Present_Position is the encoder less Homing_Offset, within 0…4095 (Phase
// bit 4 clear, the state LeRobot puts every STS3215 in) or continuous.
// Present_Load is the duty in 0.1 %, Present_Current 6.5 mA units,
// Present_Velocity steps/s.
//
// # Protection
//
// A first-order thermal model heats the winding with i²R. Overheating
// (Max_Temperature_Limit), input voltage outside its limits, overload
// (duty at Overload_Torque % for Protection_Time × 10 ms, after which the
// output is held to Protective_Torque %) and over-current (Protection_Current
// for Over_Current_Protection_Time × 10 ms) set their status bits; those
// armed in Unloading_Condition turn torque off. Overload and over-current
// stay latched until torque is turned on again; an injected angle-sensor
// fault until a power cycle.
//
// # Real-time use
//
// Handle and Control do not allocate once the caller's reply buffer has
// feetech.MaxPacket bytes to spare, and take time bounded by the packet.
// A Device is not safe for concurrent use: its bus owns it.
package sts3215
