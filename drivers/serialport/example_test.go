package serialport_test

import (
	"fmt"
	"time"

	"github.com/anther-robotics/anther/drivers/serialport"
)

// Open a motor bus's port; the result is a go.bug.st/serial.Port (whose
// dynamic type, *serialport.Port, can also change its baud rate).
func ExampleOpen() {
	port, err := serialport.Open("/dev/ttyACM0", 1000000)
	if err != nil {
		fmt.Println(err) // names the path; errors.Is(err, serialport.ErrNotFound) etc.
		return
	}
	defer port.Close()
	_ = port.SetReadTimeout(10 * time.Millisecond)
	if lt, _, ok := serialport.Latency("/dev/ttyACM0"); ok {
		fmt.Println("USB latency timer:", lt)
	}
}

// List the ports that may hold a motor bus.
func ExampleList() {
	ports, err := serialport.List()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range ports {
		fmt.Println(p.Name, p.VID+":"+p.PID, p.Hint)
	}
}
