package hub

import (
	"fmt"
	"strings"
)

// RepoID names a Hub repository: "namespace/name", the namespace being a
// user or an organisation.
type RepoID struct {
	Namespace string
	Name      string
}

// String returns "namespace/name".
func (r RepoID) String() string { return r.Namespace + "/" + r.Name }

// IsZero reports whether r is the zero RepoID.
func (r RepoID) IsZero() bool { return r.Namespace == "" && r.Name == "" }

// ParseRepoID checks s with the Hub's rules (those of huggingface_hub's
// validate_repo_id, plus a required namespace): "namespace/name", each part
// 1 to 96 characters of letters, digits, '-', '_' and '.', not starting or
// ending with '-' or '.', without "--" or "..", and a name not ending in
// ".git". Errors wrap [ErrInvalidRepoID].
func ParseRepoID(s string) (RepoID, error) {
	bad := func(why string) (RepoID, error) {
		return RepoID{}, fmt.Errorf("%w %q: %s", ErrInvalidRepoID, s, why)
	}
	if s == "" {
		return bad("empty (want namespace/name, e.g. alice/so101-pick-place)")
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok {
		return bad("no namespace (want namespace/name, e.g. alice/" + s + ")")
	}
	if strings.Contains(name, "/") {
		return bad("more than one '/' (want namespace/name; do not prefix it with datasets/)")
	}
	for _, part := range []struct{ what, v string }{{"namespace", ns}, {"name", name}} {
		if why := checkRepoPart(part.v); why != "" {
			return bad(part.what + " " + why)
		}
	}
	if strings.HasSuffix(name, ".git") {
		return bad("name cannot end in .git")
	}
	return RepoID{Namespace: ns, Name: name}, nil
}

func checkRepoPart(p string) string {
	if p == "" {
		return "is empty"
	}
	if len(p) > 96 {
		return fmt.Sprintf("is %d characters long (at most 96)", len(p))
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Sprintf("has %q (only letters, digits, '-', '_' and '.' are allowed)", c)
		}
	}
	if first, last := p[0], p[len(p)-1]; first == '-' || first == '.' || last == '-' || last == '.' {
		return "cannot start or end with '-' or '.'"
	}
	if strings.Contains(p, "--") || strings.Contains(p, "..") {
		return "cannot contain \"--\" or \"..\""
	}
	return ""
}
