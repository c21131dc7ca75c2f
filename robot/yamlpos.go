package robot

import (
	"errors"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// YAMLErrorPos locates a YAML decoding error for a file:line: field
// message: its line (0 if unknown), the unknown field's name (for unknown
// fields) and the message. ok is false for errors that are not the YAML
// library's own.
func YAMLErrorPos(err error) (line int, field, msg string, ok bool) {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return 0, "", "", false
	}
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		line = tk.Position.Line
	}
	msg = ye.GetMessage()
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) {
		if tk := uf.GetToken(); tk != nil {
			field = tk.Value
		}
		msg = "unknown field"
	}
	return line, field, msg, true
}

// YAMLLine finds the source line of field (a path such as joints[3].id) in
// a parsed YAML file, or of its nearest present parent; 0 if none is found.
func YAMLLine(file *ast.File, field string) int {
	if file == nil {
		return 0
	}
	for f := field; f != ""; {
		if p, err := yaml.PathString("$." + f); err == nil {
			if n, err := p.FilterFile(file); err == nil && n != nil {
				if tk := n.GetToken(); tk != nil && tk.Position != nil {
					return tk.Position.Line
				}
			}
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}
