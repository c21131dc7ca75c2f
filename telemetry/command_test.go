package telemetry

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// commandCases are payloads with the verdict both ParseCommand and
// docs/mqtt/command.schema.json must give (empty payloads are outside the
// schema, which describes JSON payloads).
var commandCases = []struct {
	verb, payload string
	ok            bool
}{
	{"estop", `{"version":1}`, true},
	{"estop", `{"version":1,"id":"a","reason":"operator"}`, true},
	{"estop", `{"version":1,"targets":{"x":1}}`, false},
	{"hold", `{"version":1,"id":"h"}`, true},
	{"hold", `{"version":1,"reason":"x"}`, false},
	{"activate", `{"version":1}`, true},
	{"activate", `{"Version":1}`, false},
	{"activate", `{"version":1,"ID":"x"}`, false},
	{"deactivate", `{"version":2}`, false},
	{"deactivate", `{"version":"1"}`, false},
	{"reset", `{"version":1,"id":null}`, false},
	{"reset", `{}`, false},
	{"reset", `[]`, false},
	{"reset", `null`, false},
	{"reset", `{"version":1} {"version":1}`, false},
	{"goto", `{"version":1,"targets":{"body_rotation":0.5}}`, true},
	{"goto", `{"version":1,"id":"g","targets":{"a":-1,"b":2e-3}}`, true},
	{"goto", `{"version":1,"targets":{}}`, false},
	{"goto", `{"version":1,"targets":{"a":null}}`, false},
	{"goto", `{"version":1,"targets":{"a":"1"}}`, false},
	{"goto", `{"version":1,"targets":{"":1}}`, false},
	{"goto", `{"version":1,"targets":{"` + strings.Repeat("j", 65) + `":1}}`, false},
	{"goto", `{"version":1}`, false},
	{"goto", `{"version":1,"targets":{"a":1},"speed":2}`, false},
	{"record", `{"version":1,"action":"start"}`, true},
	{"record", `{"version":1,"action":"start","task":"wave","dataset":"lab/waves"}`, true},
	{"record", `{"version":1,"action":"stop"}`, true},
	{"record", `{"version":1,"action":"stop","task":"wave"}`, false},
	{"record", `{"version":1,"action":"pause"}`, false},
	{"record", `{"version":1}`, false},
	{"record", `{"version":1,"action":"start","model":"m"}`, false},
	{"policy", `{"version":1,"action":"start","model":"act.onnx","task":"pick"}`, true},
	{"policy", `{"version":1,"action":"start"}`, false},
	{"policy", `{"version":1,"action":"start","model":""}`, false},
	{"policy", `{"version":1,"action":"stop"}`, true},
	{"policy", `{"version":1,"action":"stop","model":"m"}`, false},
	{"policy", `{"version":1,"action":"start","model":"m","dataset":"d"}`, false},
	{"estop", `{"version":1,"id":"` + strings.Repeat("i", 129) + `"}`, false},
	{"estop", `{"version":1,"id":"` + strings.Repeat("i", 128) + `"}`, true},
}

func TestParseCommandMatchesSchema(t *testing.T) {
	s := loadSchemas(t)
	for _, c := range commandCases {
		_, err := ParseCommand(c.verb, []byte(c.payload))
		if (err == nil) != c.ok {
			t.Errorf("ParseCommand(%s, %s): err=%v, want ok=%v", c.verb, c.payload, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("ParseCommand(%s, %s): %v does not wrap ErrInvalidCommand", c.verb, c.payload, err)
		}
		inst, jerr := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(c.payload)))
		if jerr != nil {
			if c.ok {
				t.Errorf("%s: not JSON: %v", c.payload, jerr)
			}
			continue
		}
		if verr := s.command[c.verb].Validate(inst); (verr == nil) != c.ok {
			t.Errorf("schema %s on %s: %v, want ok=%v", c.verb, c.payload, verr, c.ok)
		}
	}
}

func TestParseCommandFields(t *testing.T) {
	c, err := ParseCommand(VerbGoto, []byte(`{"version":1,"id":"g7","targets":{"a":0.25,"b":-1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "g7" || c.Targets["a"] != 0.25 || c.Targets["b"] != -1 || len(c.Targets) != 2 {
		t.Errorf("parsed %+v", c)
	}
	for _, verb := range []string{VerbEStop, VerbHold, VerbActivate, VerbDeactivate, VerbReset} {
		if _, err := ParseCommand(verb, []byte(" \n")); err != nil {
			t.Errorf("%s with an empty payload: %v", verb, err)
		}
	}
	for _, verb := range []string{VerbGoto, VerbRecord, VerbPolicy, "dance", ""} {
		if _, err := ParseCommand(verb, nil); err == nil {
			t.Errorf("%s with an empty payload: accepted", verb)
		}
	}
	if _, err := ParseCommand(VerbHold, bytes.Repeat([]byte(" "), MaxCommandSize+1)); err == nil {
		t.Error("oversized payload accepted")
	}
	if got := peekID([]byte(`{"version":9,"id":"x1"}`)); got != "x1" {
		t.Errorf("peekID = %q", got)
	}
}
