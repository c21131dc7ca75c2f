package robot

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// MotorCalibration is one motor's entry in a LeRobot calibration file
// (lerobot/motors/motors_bus.py MotorCalibration), in raw encoder ticks.
type MotorCalibration struct {
	ID           int `json:"id"`
	DriveMode    int `json:"drive_mode"`    // 1 inverts the direction
	HomingOffset int `json:"homing_offset"` // ticks; Present = Actual − HomingOffset
	RangeMin     int `json:"range_min"`     // ticks
	RangeMax     int `json:"range_max"`     // ticks
}

// Calibration maps a motor (joint) name to its calibration, exactly as
// LeRobot writes it to ~/.cache/huggingface/lerobot/calibration/….json.
type Calibration map[string]MotorCalibration

// ReadCalibration reads a LeRobot calibration JSON file.
func ReadCalibration(path string) (Calibration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("robot: calibration: %w", err)
	}
	return ParseCalibration(path, data)
}

// ParseCalibration decodes LeRobot calibration JSON. name is used in errors.
func ParseCalibration(name string, data []byte) (Calibration, error) {
	var c Calibration
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("robot: calibration %s: %w", name, err)
	}
	for _, motor := range c.Names() {
		m := c[motor]
		if m.DriveMode != 0 && m.DriveMode != 1 {
			return nil, fmt.Errorf("robot: calibration %s: %s.drive_mode: %d is not 0 or 1", name, motor, m.DriveMode)
		}
		if m.RangeMin >= m.RangeMax {
			return nil, fmt.Errorf("robot: calibration %s: %s: range_min %d is not below range_max %d", name, motor, m.RangeMin, m.RangeMax)
		}
	}
	return c, nil
}

// Names lists the calibrated motors in sorted order.
func (c Calibration) Names() []string {
	names := make([]string, 0, len(c))
	for k := range c {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Marshal encodes c as LeRobot does (JSON, indent 4, keys in the given joint
// order when order is non-nil, else sorted).
func (c Calibration) Marshal(order []string) ([]byte, error) {
	if order == nil {
		order = c.Names()
	}
	buf := []byte("{")
	for i, name := range order {
		m, ok := c[name]
		if !ok {
			return nil, fmt.Errorf("robot: calibration has no motor %q", name)
		}
		key, _ := json.Marshal(name)
		entry, err := json.MarshalIndent(m, "    ", "    ")
		if err != nil {
			return nil, fmt.Errorf("robot: calibration: %w", err)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n    "...)
		buf = append(buf, key...)
		buf = append(buf, ": "...)
		buf = append(buf, entry...)
	}
	buf = append(buf, "\n}\n"...)
	return buf, nil
}

// WriteCalibration writes c to path in LeRobot's format, in the given order.
func WriteCalibration(path string, c Calibration, order []string) error {
	data, err := c.Marshal(order)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("robot: calibration: %w", err)
	}
	return nil
}
