package telemetry

import (
	"bytes"
	"math"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzParseCommand feeds the inbound command parser arbitrary verbs and
// payloads (seed corpus in testdata/fuzz/FuzzParseCommand). It must never
// panic; whatever it accepts must satisfy the command's invariants and the
// documented schema.
func FuzzParseCommand(f *testing.F) {
	for _, c := range commandCases {
		f.Add(c.verb, []byte(c.payload))
	}
	f.Add("estop", []byte(nil))
	f.Add("goto", []byte(`{"version":1,"targets":{"a":1e308,"b":-0}}`))
	s := loadSchemas(f)
	f.Fuzz(func(t *testing.T, verb string, payload []byte) {
		c, err := ParseCommand(verb, payload)
		if err != nil {
			return
		}
		if !knownVerb(c.Verb) || c.Version != Version || len(c.ID) > MaxIDLen {
			t.Fatalf("accepted %q %q as %+v", verb, payload, c)
		}
		for name, v := range c.Targets {
			if name == "" || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted target %q=%v", name, v)
			}
		}
		if (c.Verb == VerbRecord || c.Verb == VerbPolicy) && c.Action != ActionStart && c.Action != ActionStop {
			t.Fatalf("accepted action %q", c.Action)
		}
		if len(bytes.TrimSpace(payload)) == 0 {
			return
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			t.Fatalf("parser accepted %q, which is not JSON to the validator: %v", payload, err)
		}
		if err := s.command[verb].Validate(inst); err != nil {
			t.Fatalf("parser accepted %s %q, which its schema refuses: %v", verb, payload, err)
		}
	})
}
