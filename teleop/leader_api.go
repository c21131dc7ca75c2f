package teleop

import "net/http"

// FaultSource reports faults outside the robot's own joints — a leader
// arm's servos — for the faults list of GET /api/state. AppendFaults must
// be safe to call from any goroutine and must not block.
type FaultSource interface {
	AppendFaults(dst []string) []string
}

// AddFaultSource adds f's faults to GET /api/state (and the WebSocket
// state stream). Call it before serving.
func (s *Server) AddFaultSource(f FaultSource) { s.faults = append(s.faults, f) }

// RegisterLeader serves leader-follower teleoperation's status and adds
// the leader's servo faults to GET /api/state. Call it once, before
// serving:
//
//	GET /api/teleop/leader   reads, errors, faults of the leader arm
func (s *Server) RegisterLeader(l *Leader) {
	s.AddFaultSource(l)
	s.handle("GET /api/teleop/leader", "leader arm of leader-follower teleop: reads, errors, servo faults", "",
		func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, l.Status()) })
}
