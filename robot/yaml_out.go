package robot

import (
	"fmt"
	"strconv"
	"strings"
)

func fmtDeg(a Radians) string {
	return strconv.FormatFloat(a.Degrees(), 'f', -1, 64) + "deg"
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// YAML renders d as a description file that Parse reads back to the same
// description (angles in degrees, rounded to 6 significant digits for
// velocities and torques).
func (d *Description) YAML() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nkind: %s\nrate: %s\nbuses:\n", d.Name, d.Kind, fmtNum(d.Rate))
	for _, bus := range d.Buses {
		fmt.Fprintf(&b, "  - {name: %s, protocol: %s, port: %s, baud: %d, read: %s}\n",
			bus.Name, bus.Protocol, bus.Port, bus.Baud, bus.Read)
	}
	b.WriteString("joints:\n")
	for _, j := range d.Joints {
		fmt.Fprintf(&b, "  - {name: %s, bus: %s, id: %d, model: %s, direction: %d, offset: %s, min: %s, max: %s, home: %s, max_velocity: %srad/s, max_acceleration: %srad/s^2, max_torque: %sNm}\n",
			j.Name, j.Bus, j.ID, j.Model, j.Direction, fmtDeg(j.Offset), fmtDeg(j.Min), fmtDeg(j.Max), fmtDeg(j.Home),
			fmtNum(float64(j.MaxVelocity)), fmtNum(float64(j.MaxAcceleration)), fmtNum(float64(j.MaxTorque)))
	}
	if len(d.Cameras) > 0 {
		b.WriteString("cameras:\n")
		for _, c := range d.Cameras {
			fmt.Fprintf(&b, "  - {name: %s, source: %q, width: %d, height: %d, fps: %s}\n", c.Name, c.Source, c.Width, c.Height, fmtNum(c.FPS))
		}
	}
	return []byte(b.String())
}
