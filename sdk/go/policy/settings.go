package policy

// Settings: the validate-settings answer, and a strict decoder so a typo in promote.yaml is
// refused by name when the configuration loads instead of being silently ignored.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// SettingsValidation is the answer to validate-settings.
type SettingsValidation struct {
	Valid bool `json:"valid"`
	// Message says why not (or adds a note when valid).
	Message string `json:"message,omitempty"`
}

// ValidSettings accepts the settings.
func ValidSettings() SettingsValidation {
	return SettingsValidation{Valid: true}
}

// InvalidSettings refuses the settings; the message should name the key and the fix.
func InvalidSettings(message string) SettingsValidation {
	return SettingsValidation{Valid: false, Message: message}
}

// DecodeSettings decodes settings (a JSON object) into v, a pointer to a struct whose fields
// carry json tags. Unlike encoding/json's defaults it refuses what a typo produces: a document
// that is not an object, and keys that no field's tag names exactly (encoding/json would match
// "Role" to `json:"role"`; promote.yaml keys are case-sensitive). A JSON null value leaves the
// field as it was, like a missing key: pre-fill v with the defaults before calling.
func DecodeSettings(settings json.RawMessage, v any) error {
	trimmed := bytes.TrimSpace(settings)
	// No settings at all (a request built by hand in a test) reads as `{}`, as the host sends.
	if len(trimmed) == 0 {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("settings must be a JSON object, got %s", describe(trimmed))
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &keys); err != nil {
		return err
	}
	known := tagNames(v)
	var unknown []string
	for k := range keys {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, 0, len(known))
		for k := range known {
			names = append(names, "`"+k+"`")
		}
		sort.Strings(names)
		return fmt.Errorf("unknown field `%s`, expected one of %s", strings.Join(unknown, "`, `"), strings.Join(names, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// tagNames are the JSON names of v's struct fields (v: pointer to struct).
func tagNames(v any) map[string]struct{} {
	out := map[string]struct{}{}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = struct{}{}
	}
	return out
}

func describe(doc []byte) string {
	if len(doc) == 0 {
		return "nothing"
	}
	if len(doc) > 40 {
		return string(doc[:40]) + "…"
	}
	return string(doc)
}
