package teleop

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/anther-robotics/anther/control"
)

// operators tracks who controls the robot. One operator at a time holds
// control (others are view-only); the holder must send heartbeats, which
// also feed the loop's heartbeat watchdog, so a closed tab or a lost network
// makes the robot hold. Control lapses when heartbeats stop.
type operators struct {
	loop    *control.Loop
	timeout time.Duration

	mu       sync.Mutex
	holder   string // session id, "" when nobody holds control
	name     string
	since    time.Time
	lastBeat time.Time
}

// OperatorStatus is who controls the robot, for the API.
type OperatorStatus struct {
	Held     bool      `json:"held"`
	Name     string    `json:"name,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	LastBeat time.Time `json:"last_heartbeat,omitzero"`
	You      bool      `json:"you"` // the asking session holds control
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// expireLocked drops a holder whose heartbeats stopped.
func (o *operators) expireLocked(now time.Time) {
	if o.holder != "" && now.Sub(o.lastBeat) > o.timeout {
		o.holder, o.name = "", ""
	}
}

// claim gives control to a new session. force takes it from another holder.
func (o *operators) claim(name string, force bool) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	o.expireLocked(now)
	if o.holder != "" && !force {
		return "", fmt.Errorf("%s has control since %s; view-only until they release it (or claim with force)", o.name, o.since.Format(time.TimeOnly))
	}
	o.holder, o.name, o.since, o.lastBeat = newSessionID(), name, now, now
	o.loop.Heartbeat()
	return o.holder, nil
}

// release gives control back; the loop stops watching heartbeats.
func (o *operators) release(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id == "" || id != o.holder {
		return false
	}
	o.holder, o.name = "", ""
	o.loop.DisarmHeartbeat()
	return true
}

// heartbeat records that the holder is present.
func (o *operators) heartbeat(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	o.expireLocked(now)
	if id == "" || id != o.holder {
		return fmt.Errorf("session does not hold control")
	}
	o.lastBeat = now
	o.loop.Heartbeat()
	return nil
}

// allowed says whether a command from session id may move the robot: yes if
// it holds control, or if nobody does.
func (o *operators) allowed(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expireLocked(time.Now())
	if o.holder == "" || id == o.holder {
		return nil
	}
	return fmt.Errorf("%s has control; this session is view-only", o.name)
}

func (o *operators) status(id string) OperatorStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expireLocked(time.Now())
	return OperatorStatus{Held: o.holder != "", Name: o.name, Since: o.since, LastBeat: o.lastBeat,
		You: id != "" && id == o.holder}
}
