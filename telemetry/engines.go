package telemetry

import (
	"context"
	"time"

	"github.com/anther-robotics/anther/control"
	"github.com/anther-robotics/anther/robot"
)

// Controller is what the bridge asks of the control loop; *control.Loop
// implements it. Every method is lock-free and never blocks the loop.
type Controller interface {
	EStop()
	Request(r control.Request)
	SetTargets(t *control.Targets)
	Lifecycle() robot.Lifecycle
	Mode() control.Mode
	Timing() *control.Timing
}

var _ Controller = (*control.Loop)(nil)

// RecordRequest asks the recorder to start an episode.
type RecordRequest struct {
	Task    string // what the operator does in the episode
	Dataset string // dataset name or repo id; "" = the recorder's default
}

// RecordStatus is the recorder's answer, put in the reply's data.
type RecordStatus struct {
	Recording bool          `json:"recording"`
	Dataset   string        `json:"dataset,omitempty"`
	Episode   int           `json:"episode"`
	Frames    int64         `json:"frames"`
	Duration  time.Duration `json:"duration_ns"`
}

// Recorder starts and stops episode recording on remote command. The
// episode recorder (dataset/) implements it; until it is wired in with
// Bridge.SetRecorder, record commands are answered "unavailable". The
// calls run on the bridge's command goroutine, not the loop's: they may
// take a moment (ctx bounds them) but should not wait for an upload.
type Recorder interface {
	StartRecording(ctx context.Context, req RecordRequest) (RecordStatus, error)
	StopRecording(ctx context.Context) (RecordStatus, error)
}

// PolicyRequest asks the policy runner to take control of the robot.
type PolicyRequest struct {
	Model string // model name or path
	Task  string // task prompt, for policies that take one
}

// PolicyStatus is the policy runner's answer, put in the reply's data.
type PolicyStatus struct {
	Running bool   `json:"running"`
	Model   string `json:"model,omitempty"`
}

// PolicyRunner starts and stops a learned policy on remote command. The
// policy runner (policy/) implements it; until it is wired in with
// Bridge.SetPolicy, policy commands are answered "unavailable".
type PolicyRunner interface {
	StartPolicy(ctx context.Context, req PolicyRequest) (PolicyStatus, error)
	StopPolicy(ctx context.Context) (PolicyStatus, error)
}

// EventSink takes events for the events topic without blocking; false means
// the oldest buffered event was dropped to make room (and counted).
// *Bridge implements it; the recorder, uploader and policy runner publish
// their episode/upload/policy events through it.
type EventSink interface {
	Emit(e Event) bool
}
