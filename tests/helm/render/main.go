// render: `helm template` for this repository's chart, without helm (which cannot be
// installed here). Go's text/template with sprig's functions plus the few Helm ones
// the chart uses: include, tpl, toYaml, fromYaml, toJson, required, fail; and .Files.Get.
//
//	render CHART_DIR [VALUES_FILE...] > objects.json
//
// Prints {"objects": [...], "notes": "...", "values": {...}}: the rendered Kubernetes
// objects (templates whose names start with "_" are helpers), NOTES.txt rendered,
// and the merged values.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR [VALUES_FILE...]")
		os.Exit(2)
	}
	out, err := render(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// merge overlays `over` onto `base` as Helm does: maps merge key by key, anything
// else is replaced.
func merge(base, over map[string]interface{}) map[string]interface{} {
	for k, v := range over {
		if bm, ok := base[k].(map[string]interface{}); ok {
			if om, ok := v.(map[string]interface{}); ok {
				base[k] = merge(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// chartFiles is .Files: the chart's files by their path in the chart.
type chartFiles struct{ dir string }

// Get is Helm's .Files.Get: the file's contents, "" when it cannot be read.
func (f chartFiles) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

func render(chartDir string, valueFiles []string) ([]byte, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range valueFiles {
		over, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		values = merge(values, over)
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &m)
		return m
	}
	funcs["toJson"] = func(v interface{}) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	funcs["required"] = func(message string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, errors.New(message)
		}
		return v, nil
	}
	funcs["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	root.Funcs(funcs).Option("missingkey=zero")

	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name := filepath.Join(filepath.Base(chartDir), "templates", filepath.Base(f))
		if _, err := root.New(name).Parse(string(text)); err != nil {
			return nil, err
		}
	}

	chartInfo := map[string]interface{}{
		"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
	}
	release := map[string]interface{}{"Name": "test", "Namespace": "default", "Service": "Helm"}
	result := map[string]interface{}{"objects": []interface{}{}, "notes": ""}
	var objects []interface{}
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") {
			continue
		}
		name := filepath.Join(filepath.Base(chartDir), "templates", base)
		data := map[string]interface{}{
			"Values": values, "Chart": chartInfo, "Release": release, "Files": chartFiles{chartDir},
			"Template": map[string]interface{}{"Name": name, "BasePath": filepath.Join(filepath.Base(chartDir), "templates")},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return nil, err
		}
		if base == "NOTES.txt" {
			result["notes"] = buf.String()
			continue
		}
		dec := yaml.NewDecoder(&buf)
		for {
			var doc map[string]interface{}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", base, err)
			}
			if doc != nil {
				objects = append(objects, doc)
			}
		}
	}
	result["objects"] = objects
	result["values"] = values // as merged: Helm checks these against values.schema.json
	return json.MarshalIndent(result, "", "  ")
}
