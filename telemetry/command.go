package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/anther-robotics/anther/robot"
)

// Command verbs, the last level of anther/<id>/cmd/<verb>.
const (
	VerbEStop      = "estop"      // torque off at the next tick; always accepted
	VerbHold       = "hold"       // stop where the joints are commanded now
	VerbActivate   = "activate"   // torque on (from inactive)
	VerbDeactivate = "deactivate" // torque off (from active or holding)
	VerbReset      = "reset"      // clear an e-stop or fault (to inactive)
	VerbGoto       = "goto"       // joint position targets, rad
	VerbRecord     = "record"     // episode recording: action start | stop
	VerbPolicy     = "policy"     // learned policy: action start | stop
)

// Verbs returns every command verb the bridge understands.
func Verbs() []string {
	return []string{VerbEStop, VerbHold, VerbActivate, VerbDeactivate, VerbReset, VerbGoto, VerbRecord, VerbPolicy}
}

// Actions of the record and policy verbs.
const (
	ActionStart = "start"
	ActionStop  = "stop"
)

// Limits on inbound commands.
const (
	MaxCommandSize = 4096 // bytes of payload
	MaxIDLen       = 128  // bytes of correlation id
	maxTextLen     = 1024 // bytes of task, model, dataset, reason
	maxJointName   = 64   // bytes of a joint name in goto
)

// ErrInvalidCommand is wrapped by every error ParseCommand returns.
var ErrInvalidCommand = errors.New("telemetry: invalid command")

// Command is an inbound command, parsed and checked. Which fields are set
// depends on the verb.
type Command struct {
	Verb    string
	Version int
	ID      string             // correlation id, echoed in the reply
	Reason  string             // estop: why (free text, for the event log)
	Targets map[string]float64 // goto: joint name → position, rad (finite)
	Action  string             // record, policy: start | stop
	Task    string             // record, policy start: what the episode or policy does
	Dataset string             // record start: dataset name or repo id ("" = the recorder's default)
	Model   string             // policy start: model name or path
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCommand, fmt.Sprintf(format, args...))
}

// verbFields lists the fields a verb's payload may carry besides version
// and id.
func verbFields(verb string) []string {
	switch verb {
	case VerbEStop:
		return []string{"reason"}
	case VerbGoto:
		return []string{"targets"}
	case VerbRecord:
		return []string{"action", "task", "dataset"}
	case VerbPolicy:
		return []string{"action", "task", "model"}
	}
	return nil
}

// ParseCommand reads the payload of anther/<id>/cmd/<verb>. A payload is a
// JSON object with "version": 1, an optional "id" (the correlation id), and
// the verb's own fields (docs/mqtt/command.schema.json); field names match
// exactly, unknown fields and null values are refused. Verbs without
// arguments (estop, hold, activate, deactivate, reset) also accept an empty
// payload. Every error wraps ErrInvalidCommand. The caller applies an
// e-stop whatever this returns.
func ParseCommand(verb string, payload []byte) (Command, error) {
	c := Command{Verb: verb, Version: Version}
	if !knownVerb(verb) {
		return c, invalid("unknown verb %q", verb)
	}
	if len(payload) > MaxCommandSize {
		return c, invalid("payload of %d bytes (at most %d)", len(payload), MaxCommandSize)
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		switch verb {
		case VerbGoto, VerbRecord, VerbPolicy:
			return c, invalid("%s needs a JSON payload", verb)
		}
		return c, nil
	}
	// Field by field, so that names match exactly (encoding/json alone
	// would match them case-insensitively) and nulls are caught.
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return c, invalid("payload: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, invalid("payload: data after the JSON object")
	}
	if raw == nil {
		return c, invalid("payload must be a JSON object")
	}
	allowed := append([]string{"version", "id"}, verbFields(verb)...)
	for k, v := range raw {
		if !slices.Contains(allowed, k) {
			return c, invalid("field %q is not used by %s", k, verb)
		}
		if string(v) == "null" {
			return c, invalid("field %q is null", k)
		}
	}
	field := func(name string, dst any) error {
		v, ok := raw[name]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return invalid("%s: %v", name, err)
		}
		return nil
	}
	var version int
	if _, ok := raw["version"]; !ok {
		return c, invalid(`missing "version"`)
	}
	if err := field("version", &version); err != nil {
		return c, err
	}
	if version != Version {
		return c, invalid("unsupported version %d (this robot speaks %d)", version, Version)
	}
	if err := field("id", &c.ID); err != nil {
		return c, err
	}
	if len(c.ID) > MaxIDLen {
		return c, invalid("id longer than %d bytes", MaxIDLen)
	}
	for name, dst := range map[string]*string{"reason": &c.Reason, "action": &c.Action, "task": &c.Task,
		"dataset": &c.Dataset, "model": &c.Model} {
		if err := field(name, dst); err != nil {
			return c, err
		}
		if len(*dst) > maxTextLen {
			return c, invalid("%s longer than %d bytes", name, maxTextLen)
		}
	}
	switch verb {
	case VerbGoto:
		var targets map[string]json.RawMessage
		if err := field("targets", &targets); err != nil {
			return c, err
		}
		if len(targets) == 0 {
			return c, invalid(`goto needs "targets": {joint: rad, …}`)
		}
		if len(targets) > robot.MaxJoints {
			return c, invalid("%d targets (at most %d)", len(targets), robot.MaxJoints)
		}
		c.Targets = make(map[string]float64, len(targets))
		for name, rv := range targets {
			if name == "" || len(name) > maxJointName || !utf8.ValidString(name) {
				return c, invalid("bad joint name %q", name)
			}
			var v float64
			if string(rv) == "null" {
				return c, invalid("target of %s is null", name)
			}
			if err := json.Unmarshal(rv, &v); err != nil {
				return c, invalid("target of %s: %v", name, err)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return c, invalid("target of %s is not finite", name)
			}
			c.Targets[name] = v
		}
	case VerbRecord, VerbPolicy:
		if _, ok := raw["action"]; !ok {
			return c, invalid(`%s needs "action": "start" or "stop"`, verb)
		}
		switch c.Action {
		case ActionStart:
			if verb == VerbPolicy && strings.TrimSpace(c.Model) == "" {
				return c, invalid(`policy start needs "model"`)
			}
		case ActionStop:
			if _, ok := raw["task"]; ok {
				return c, invalid("%s stop takes no task", verb)
			}
			if _, ok := raw["dataset"]; ok {
				return c, invalid("%s stop takes no dataset", verb)
			}
			if _, ok := raw["model"]; ok {
				return c, invalid("%s stop takes no model", verb)
			}
		default:
			return c, invalid("action %q (want start or stop)", c.Action)
		}
	}
	return c, nil
}

func knownVerb(v string) bool {
	for _, k := range Verbs() {
		if v == k {
			return true
		}
	}
	return false
}

// peekID extracts a correlation id from a payload that did not parse, so
// the reply to a malformed command can still be matched when possible.
func peekID(payload []byte) string {
	var w struct {
		ID string `json:"id"`
	}
	if len(payload) > MaxCommandSize || json.Unmarshal(payload, &w) != nil || len(w.ID) > MaxIDLen {
		return ""
	}
	return w.ID
}
