package hub

import (
	"bytes"
	"encoding/json"
	"strings"
)

// CardOptions shapes the generated dataset card (README.md), used when
// the dataset directory has none of its own.
type CardOptions struct {
	// License is a Hub license id; default "apache-2.0" (LeRobot's).
	License string
	// Tags are added after "LeRobot".
	Tags []string
	// Description is the text of the "Dataset Description" section.
	Description string
}

// Card renders the dataset card LeRobot's push_to_hub writes: YAML front
// matter with the license, the LeRobot tag, the robotics task category and
// the parquet data files as the default config, then a body that embeds
// meta/info.json. The output depends only on its inputs, so an unchanged
// dataset gives an unchanged card.
func Card(repo RepoID, infoJSON []byte, o CardOptions) []byte {
	license := o.License
	if license == "" {
		license = "apache-2.0"
	}
	q := func(s string) string {
		b, _ := json.Marshal(s) // a JSON string is a valid YAML double-quoted scalar
		return string(b)
	}
	var b strings.Builder
	b.WriteString("---\n")
	b.WriteString("# Dataset card metadata: https://github.com/huggingface/hub-docs/blob/main/datasetcard.md?plain=1\n")
	b.WriteString("license: " + q(license) + "\n")
	b.WriteString("task_categories:\n- robotics\n")
	b.WriteString("tags:\n- LeRobot\n")
	for _, t := range o.Tags {
		if t = strings.TrimSpace(t); t != "" && t != "LeRobot" {
			b.WriteString("- " + q(t) + "\n")
		}
	}
	b.WriteString("configs:\n- config_name: default\n  data_files: data/*/*.parquet\n")
	b.WriteString("---\n\n")
	b.WriteString("This dataset was created using [LeRobot](https://github.com/huggingface/lerobot) (dataset format ")
	b.WriteString(CodebaseVersion + "), recorded with anther.\n\n")
	if !repo.IsZero() {
		b.WriteString(`<a class="flex" href="https://huggingface.co/spaces/lerobot/visualize_dataset?path=` + repo.String() + `">` + "\n")
		b.WriteString(`<img class="block dark:hidden" src="https://huggingface.co/datasets/huggingface/badges/resolve/main/visualize-this-dataset-xl.svg"/>` + "\n")
		b.WriteString(`<img class="hidden dark:block" src="https://huggingface.co/datasets/huggingface/badges/resolve/main/visualize-this-dataset-xl-dark.svg"/>` + "\n")
		b.WriteString("</a>\n\n")
	}
	b.WriteString("## Dataset Description\n\n")
	if o.Description != "" {
		b.WriteString(strings.TrimSpace(o.Description) + "\n\n")
	}
	b.WriteString("- **Homepage:** [More Information Needed]\n")
	b.WriteString("- **Paper:** [More Information Needed]\n")
	b.WriteString("- **License:** " + license + "\n\n")
	b.WriteString("## Dataset Structure\n\n")
	b.WriteString("[meta/info.json](meta/info.json):\n```json\n")
	var ind bytes.Buffer
	if json.Indent(&ind, bytes.TrimSpace(infoJSON), "", "    ") == nil {
		b.Write(ind.Bytes())
	} else {
		b.Write(bytes.TrimSpace(infoJSON))
	}
	b.WriteString("\n```\n\n")
	b.WriteString("## Citation\n\n**BibTeX:**\n\n```bibtex\n[More Information Needed]\n```\n")
	return []byte(b.String())
}
