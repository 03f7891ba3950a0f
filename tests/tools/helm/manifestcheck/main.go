// Command manifestcheck validates rendered Kubernetes manifests offline, against the OpenAPI v3
// documents of pinned Kubernetes versions (api/openapi-spec/v3 of the k8s.io/kubernetes module,
// which tests/tools/helm/install.sh copies into a folder per version; each document covers one
// API group/version and is read when an object first names it).
//
//	manifestcheck -schemas DIR [-schemas DIR ...] [-json OUT] FILE.yaml ...
//
// Every object must name a kind the API serves (by apiVersion and kind; an unknown kind is an
// error, not a skip) and satisfy its schema strictly: required fields, types, enums, and no field
// the schema does not declare (the API server's strict field validation). On top of the schema it
// checks what the API server's own validation would refuse and a schema cannot say: list-map keys
// and set items unique (two env vars or volumes of one name), DNS names, volume mounts that name a
// volume, and the native-sidecar rules for init containers. -json writes the objects as one JSON
// array, for tests that assert on them without a YAML parser.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type schemaDirs []string

func (s *schemaDirs) String() string     { return strings.Join(*s, ",") }
func (s *schemaDirs) Set(v string) error { *s = append(*s, v); return nil }

// kubeVersion is one Kubernetes version's folder of documents, one per API group/version, each
// self-contained; a document is loaded when an object first needs it.
type kubeVersion struct {
	label string
	dir   string
	docs  map[string]*apiDoc // by apiVersion ("v1", "apps/v1"); nil when the version has none
}

// apiDoc is one group/version's schemas: definitions by name, and which definition describes
// each group/version/kind.
type apiDoc struct {
	label    string
	defs     map[string]any
	byGVK    map[string]string
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func main() {
	var dirs schemaDirs
	flag.Var(&dirs, "schemas", "a folder of one Kubernetes version's OpenAPI v3 documents (repeatable)")
	jsonOut := flag.String("json", "", "write the objects, as one JSON array, to this file")
	flag.Parse()
	if len(dirs) == 0 || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: manifestcheck -schemas DIR [-schemas DIR ...] [-json OUT] FILE.yaml ...")
		os.Exit(2)
	}
	var versions []*kubeVersion
	for _, dir := range dirs {
		if files, _ := filepath.Glob(filepath.Join(dir, "*_openapi.json")); len(files) == 0 {
			fmt.Fprintf(os.Stderr, "manifestcheck: %s holds no *_openapi.json documents\n", dir)
			os.Exit(2)
		}
		versions = append(versions, &kubeVersion{label: filepath.Base(dir), dir: dir, docs: map[string]*apiDoc{}})
	}
	var objects []any
	failed := false
	for _, file := range flag.Args() {
		docs, err := readObjects(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "manifestcheck:", err)
			os.Exit(2)
		}
		for _, obj := range docs {
			objects = append(objects, obj)
			for _, v := range versions {
				problems := v.check(obj)
				id := describe(obj)
				if len(problems) == 0 {
					fmt.Printf("ok   %s: %s\n", v.label, id)
					continue
				}
				failed = true
				for _, p := range problems {
					fmt.Printf("FAIL %s: %s (%s): %s\n", v.label, id, file, p)
				}
			}
		}
	}
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(objects, "", " ")
		if err := os.WriteFile(*jsonOut, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "manifestcheck:", err)
			os.Exit(2)
		}
	}
	if len(objects) == 0 {
		fmt.Println("FAIL no objects in", strings.Join(flag.Args(), " "))
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

// doc returns the document of an apiVersion, nil when this Kubernetes version serves none.
func (k *kubeVersion) doc(apiV string) (*apiDoc, error) {
	if d, seen := k.docs[apiV]; seen {
		return d, nil
	}
	file := "api__" + apiV + "_openapi.json"
	if group, version, found := strings.Cut(apiV, "/"); found {
		file = "apis__" + group + "__" + version + "_openapi.json"
	}
	path := filepath.Join(k.dir, file)
	if _, err := os.Stat(path); err != nil || strings.Count(apiV, "/") > 1 {
		k.docs[apiV] = nil
		return nil, nil
	}
	d, err := loadDoc(path, k.label)
	k.docs[apiV] = d
	return d, err
}

func (k *kubeVersion) check(obj any) []string {
	m, ok := obj.(map[string]any)
	if !ok {
		return []string{"not an object"}
	}
	apiV, _ := m["apiVersion"].(string)
	d, err := k.doc(apiV)
	if err != nil {
		return []string{err.Error()}
	}
	if d == nil {
		return []string{fmt.Sprintf("Kubernetes %s serves no apiVersion %q", k.label, apiV)}
	}
	return d.check(m)
}

// loadDoc reads one OpenAPI v3 document's components as a JSON Schema document, made strict: an
// object schema that lists properties and says nothing of others allows no others.
func loadDoc(file, label string) (*apiDoc, error) {
	v := &apiDoc{label: label + "/" + filepath.Base(file), defs: map[string]any{}, byGVK: map[string]string{},
		compiled: map[string]*jsonschema.Schema{}}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	for name, s := range doc.Components.Schemas {
		v.defs[name] = strict(s)
		for _, gvk := range gvks(s) {
			v.byGVK[gvk] = name
		}
	}
	root := map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "definitions": v.defs}
	// Round-trip through the library's decoder, which keeps numbers exact.
	raw, _ := json.Marshal(root)
	schemas, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	v.compiler = jsonschema.NewCompiler()
	if err := v.compiler.AddResource(v.url(), schemas); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *apiDoc) url() string { return "https://kubernetes.invalid/" + v.label + "/openapi.json" }

// strict rewrites OpenAPI references to the document's definitions and forbids undeclared fields.
func strict(node any) any {
	switch n := node.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range n {
			if k == "$ref" {
				if s, ok := val.(string); ok {
					val = strings.Replace(s, "#/components/schemas/", "#/definitions/", 1)
				}
				out[k] = val
				continue
			}
			if k == "description" || k == "example" {
				continue
			}
			out[k] = strict(val)
		}
		_, hasProps := n["properties"]
		_, hasAdditional := n["additionalProperties"]
		preserve, _ := n["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProps && !hasAdditional && !preserve {
			out["additionalProperties"] = false
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, val := range n {
			out[i] = strict(val)
		}
		return out
	}
	return node
}

func gvks(schema any) []string {
	m, _ := schema.(map[string]any)
	list, _ := m["x-kubernetes-group-version-kind"].([]any)
	var out []string
	for _, item := range list {
		g, _ := item.(map[string]any)
		out = append(out, gvkKey(fmt.Sprint(g["group"]), fmt.Sprint(g["version"]), fmt.Sprint(g["kind"])))
	}
	return out
}

func gvkKey(group, version, kind string) string { return group + "/" + version + "/" + kind }

// readObjects splits a multi-document YAML file into objects, dropping empty documents.
func readObjects(file string) ([]any, error) {
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var out []any
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		asJSON, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if t := strings.TrimSpace(string(asJSON)); t == "null" || t == "" {
			continue
		}
		obj, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		out = append(out, obj)
	}
}

func describe(obj any) string {
	m, _ := obj.(map[string]any)
	meta, _ := m["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v", m["kind"], meta["name"])
}

// check returns what is wrong with one object, empty when nothing is.
func (v *apiDoc) check(m map[string]any) []string {
	apiV, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	group, version := "", apiV
	if i := strings.LastIndex(apiV, "/"); i >= 0 {
		group, version = apiV[:i], apiV[i+1:]
	}
	name, ok := v.byGVK[gvkKey(group, version, kind)]
	if !ok {
		return []string{fmt.Sprintf("%s serves no kind %q in apiVersion %q", v.label, kind, apiV)}
	}
	schema, err := v.schemaFor(name)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if err := schema.Validate(map[string]any(m)); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			problems = append(problems, leafErrors(ve)...)
		} else {
			problems = append(problems, err.Error())
		}
	}
	walk := walker{defs: v.defs}
	walk.lists(m, v.defs[name], "")
	problems = append(problems, walk.problems...)
	problems = append(problems, semantics(m)...)
	return problems
}

func (v *apiDoc) schemaFor(name string) (*jsonschema.Schema, error) {
	if s, ok := v.compiled[name]; ok {
		return s, nil
	}
	s, err := v.compiler.Compile(v.url() + "#/definitions/" + name)
	if err != nil {
		return nil, err
	}
	v.compiled[name] = s
	return s, nil
}

var printer = message.NewPrinter(language.English)

// leafErrors flattens the library's error tree to its causes, each with the field's path.
func leafErrors(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		return []string{fmt.Sprintf("at /%s: %s", strings.Join(ve.InstanceLocation, "/"), ve.ErrorKind.LocalizedString(printer))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leafErrors(c)...)
	}
	return out
}

// walker follows an object and its schema together, checking the list semantics the API server
// enforces from x-kubernetes-list-type: map keys unique in a "map" list, items unique in a "set".
type walker struct {
	defs     map[string]any
	problems []string
}

func (w *walker) resolve(schema any) []map[string]any {
	m, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	out := []map[string]any{m}
	if ref, ok := m["$ref"].(string); ok {
		out = append(out, w.resolve(w.defs[strings.TrimPrefix(ref, "#/definitions/")])...)
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, s := range all {
			out = append(out, w.resolve(s)...)
		}
	}
	return out
}

func (w *walker) lists(value any, schema any, path string) {
	for _, s := range w.resolve(schema) {
		switch val := value.(type) {
		case map[string]any:
			props, _ := s["properties"].(map[string]any)
			for k, child := range val {
				if ps, ok := props[k]; ok {
					w.lists(child, ps, path+"/"+k)
				} else if ap, ok := s["additionalProperties"].(map[string]any); ok {
					w.lists(child, ap, path+"/"+k)
				}
			}
		case []any:
			w.unique(val, s, path)
			if items, ok := s["items"]; ok {
				for i, child := range val {
					w.lists(child, items, fmt.Sprintf("%s/%d", path, i))
				}
			}
		}
	}
}

func (w *walker) unique(list []any, s map[string]any, path string) {
	listType, _ := s["x-kubernetes-list-type"].(string)
	keys, _ := s["x-kubernetes-list-map-keys"].([]any)
	seen := map[string]bool{}
	for i, item := range list {
		var id string
		switch listType {
		case "map":
			m, _ := item.(map[string]any)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, m[fmt.Sprint(k)]))
			}
			id = strings.Join(parts, ",")
		case "set":
			b, _ := json.Marshal(item)
			id = string(b)
		default:
			return
		}
		if seen[id] {
			w.problems = append(w.problems, fmt.Sprintf("at %s/%d: duplicate entry %s", path, i, id))
		}
		seen[id] = true
	}
}

var (
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValue   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
)

// semantics checks a few rules of the API server's validation that no schema states.
func semantics(obj map[string]any) []string {
	var problems []string
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" || len(name) > 253 || !dnsSubdomain.MatchString(name) {
		problems = append(problems, fmt.Sprintf("metadata.name %q is not a DNS subdomain", name))
	}
	for _, field := range []string{"labels"} {
		labels, _ := meta[field].(map[string]any)
		for k, val := range labels {
			s, _ := val.(string)
			if len(s) > 63 || !labelValue.MatchString(s) {
				problems = append(problems, fmt.Sprintf("label %s: value %q is not a valid label value", k, s))
			}
		}
	}
	if pod := podSpec(obj); pod != nil {
		problems = append(problems, podSemantics(pod)...)
	}
	return problems
}

func podSpec(obj map[string]any) map[string]any {
	get := func(m map[string]any, path ...string) map[string]any {
		for _, p := range path {
			m, _ = m[p].(map[string]any)
		}
		return m
	}
	switch obj["kind"] {
	case "Pod":
		return get(obj, "spec")
	case "PodTemplate":
		return get(obj, "template", "spec")
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController":
		return get(obj, "spec", "template", "spec")
	case "CronJob":
		return get(obj, "spec", "jobTemplate", "spec", "template", "spec")
	}
	return nil
}

func podSemantics(pod map[string]any) []string {
	var problems []string
	volumes := map[string]bool{}
	for _, v := range asList(pod["volumes"]) {
		name, _ := v["name"].(string)
		if !dnsLabel.MatchString(name) || len(name) > 63 {
			problems = append(problems, fmt.Sprintf("volume name %q is not a DNS label", name))
		}
		volumes[name] = true
	}
	names := map[string]bool{}
	for _, group := range []string{"initContainers", "containers"} {
		for _, c := range asList(pod[group]) {
			name, _ := c["name"].(string)
			if !dnsLabel.MatchString(name) || len(name) > 63 {
				problems = append(problems, fmt.Sprintf("%s: container name %q is not a DNS label", group, name))
			}
			if names[name] {
				problems = append(problems, fmt.Sprintf("%s: container name %q is used twice in the pod", group, name))
			}
			names[name] = true
			for _, m := range asList(c["volumeMounts"]) {
				if !volumes[fmt.Sprint(m["name"])] {
					problems = append(problems, fmt.Sprintf("container %s mounts volume %v, which the pod does not have", name, m["name"]))
				}
			}
			if group == "initContainers" {
				problems = append(problems, initContainerRules(c)...)
			}
		}
	}
	return problems
}

// initContainerRules: an init container may set restartPolicy only to Always (a native sidecar),
// and only a native sidecar may have probes or lifecycle hooks.
func initContainerRules(c map[string]any) []string {
	var problems []string
	policy, has := c["restartPolicy"]
	if has && policy != "Always" {
		problems = append(problems, fmt.Sprintf("init container %v: restartPolicy %v (only Always is allowed)", c["name"], policy))
	}
	if policy != "Always" {
		var probes []string
		for _, p := range []string{"startupProbe", "readinessProbe", "livenessProbe", "lifecycle"} {
			if _, ok := c[p]; ok {
				probes = append(probes, p)
			}
		}
		sort.Strings(probes)
		if len(probes) > 0 {
			problems = append(problems, fmt.Sprintf("init container %v: %s need restartPolicy Always", c["name"], strings.Join(probes, ", ")))
		}
	}
	return problems
}

func asList(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
