package sim

import (
	"math"
	"sync/atomic"
	"time"
)

// IMU is the simulated robot's inertial sensor. The simulator has no
// floating base (every joint is driven from a fixed world), so by default
// the base is upright and still: projected gravity (0, 0, −1) in the base
// frame and zero angular velocity. Tests set other values with Set to feed
// policies tilted or turning bases. ReadIMU is safe on the control loop's
// thread (no allocation, no lock) and concurrent with Set.
type IMU struct {
	v atomic.Pointer[imuValue]
}

type imuValue struct {
	gravity, gyro [3]float64
}

// NewIMU returns an upright, still IMU.
func NewIMU() *IMU {
	m := &IMU{}
	m.v.Store(&imuValue{gravity: [3]float64{0, 0, -1}})
	return m
}

// Set makes the IMU report gravity (normalized to a unit vector; a zero
// vector keeps (0,0,−1)) and gyro (rad/s, base frame). Safe from any
// goroutine.
func (m *IMU) Set(gravity, gyro [3]float64) {
	n := math.Sqrt(gravity[0]*gravity[0] + gravity[1]*gravity[1] + gravity[2]*gravity[2])
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		gravity, n = [3]float64{0, 0, -1}, 1
	}
	for i := range gravity {
		gravity[i] /= n
	}
	m.v.Store(&imuValue{gravity: gravity, gyro: gyro})
}

// ReadIMU fills the projected gravity and the angular velocity.
func (m *IMU) ReadIMU(_ time.Time, gravity, gyro *[3]float64) error {
	v := m.v.Load()
	if v == nil {
		*gravity, *gyro = [3]float64{0, 0, -1}, [3]float64{}
		return nil
	}
	*gravity, *gyro = v.gravity, v.gyro
	return nil
}
