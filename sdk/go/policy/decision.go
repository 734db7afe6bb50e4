package policy

// The Decision a policy writes on stdout. The host refuses a deny without reasons and a
// require-approval without approvals (or with a count below 1), so Run checks the same before
// writing, and a policy bug shows as a clear policy error instead of a parse failure.

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Verdict is a policy's verdict.
type Verdict string

// The verdicts.
const (
	// VerdictAllow: go ahead.
	VerdictAllow Verdict = "allow"
	// VerdictDeny: refuse (exit 3); at least one reason.
	VerdictDeny Verdict = "deny"
	// VerdictRequireApproval: go ahead once the listed approvals exist (exit 4 until then).
	VerdictRequireApproval Verdict = "require-approval"
)

// Reason is a machine-readable code (UpperCamelCase) and a sentence for people.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RequiredApproval is an approval the operation still needs.
type RequiredApproval struct {
	// ID identifies the requirement across policies (combining keeps the highest count per id).
	ID string `json:"id"`
	// Environment is the environment the approval is for.
	Environment string `json:"environment"`
	// Count is how many approvals are needed in total (at least 1).
	Count uint32 `json:"count"`
	// Reason says why.
	Reason string `json:"reason"`
	// Verified: only verified approvals count towards it (approval records whose
	// By.Verified is true, and pull-request reviews). Combining ORs it per ID.
	Verified bool `json:"verified,omitempty"`
}

// Decision is a policy's answer to evaluate. Build it with Allow, Deny or
// RequireApproval; apiVersion and kind are added when it is written.
type Decision struct {
	Decision          Verdict            `json:"decision"`
	Reasons           []Reason           `json:"reasons"`
	RequiredApprovals []RequiredApproval `json:"requiredApprovals"`
	Warnings          []string           `json:"warnings"`
	// RefusesOverride keeps a deny a deny under --override-policy (break-glass): it is written
	// as "overridable": false. The zero value lets an override set the denial aside, as
	// decisions did before the field existed. Set it with NotOverridable.
	RefusesOverride bool `json:"-"`
}

// Allow is an allow with nothing to add.
func Allow() Decision {
	return Decision{Decision: VerdictAllow}
}

// Deny is a deny with one reason.
func Deny(code, message string) Decision {
	return Decision{Decision: VerdictDeny, Reasons: []Reason{{Code: code, Message: message}}}
}

// RequireApproval requires one approval.
func RequireApproval(a RequiredApproval) Decision {
	return Decision{Decision: VerdictRequireApproval, RequiredApprovals: []RequiredApproval{a}}
}

// WithReason adds a reason (on an allow it explains why).
func (d Decision) WithReason(code, message string) Decision {
	d.Reasons = append(append([]Reason(nil), d.Reasons...), Reason{Code: code, Message: message})
	return d
}

// WithWarning adds a warning: something worth saying that does not change the verdict.
func (d Decision) WithWarning(warning string) Decision {
	d.Warnings = append(append([]string(nil), d.Warnings...), warning)
	return d
}

// NotOverridable refuses break-glass: --override-policy does not set this denial aside (it
// stays a denial, and the report says this policy refused the override). An override never
// covers missing approvals in any case.
func (d Decision) NotOverridable() Decision {
	d.RefusesOverride = true
	return d
}

// Validate checks the invariants the host checks: a known verdict, a deny with reasons, a
// require-approval with approvals, each with a non-empty id and a count of at least 1.
func (d Decision) Validate() error {
	switch d.Decision {
	case VerdictAllow:
	case VerdictDeny:
		if len(d.Reasons) == 0 {
			return errors.New(`decision is "deny" but reasons is empty`)
		}
	case VerdictRequireApproval:
		if len(d.RequiredApprovals) == 0 {
			return errors.New(`decision is "require-approval" but requiredApprovals is empty`)
		}
	default:
		return fmt.Errorf("decision is %q; expected allow, deny or require-approval", d.Decision)
	}
	for _, a := range d.RequiredApprovals {
		if a.ID == "" || a.Count == 0 {
			return fmt.Errorf("required approval %q needs a non-empty id and a count of at least 1", a.ID)
		}
	}
	return nil
}

// wireDecision is the document on stdout: apiVersion and kind first, lists never null.
type wireDecision struct {
	APIVersion        string             `json:"apiVersion"`
	Kind              string             `json:"kind"`
	Decision          Verdict            `json:"decision"`
	Reasons           []Reason           `json:"reasons"`
	RequiredApprovals []RequiredApproval `json:"requiredApprovals"`
	Warnings          []string           `json:"warnings"`
	// Overridable is written only when false; absent means true.
	Overridable *bool `json:"overridable,omitempty"`
}

// MarshalJSON writes the Decision document with apiVersion and kind, and [] for empty lists
// (the host reads null as an error, not as an empty list).
func (d Decision) MarshalJSON() ([]byte, error) {
	w := wireDecision{
		APIVersion:        APIVersion,
		Kind:              "Decision",
		Decision:          d.Decision,
		Reasons:           d.Reasons,
		RequiredApprovals: d.RequiredApprovals,
		Warnings:          d.Warnings,
	}
	if w.Reasons == nil {
		w.Reasons = []Reason{}
	}
	if w.RequiredApprovals == nil {
		w.RequiredApprovals = []RequiredApproval{}
	}
	if w.Warnings == nil {
		w.Warnings = []string{}
	}
	if d.RefusesOverride {
		no := false
		w.Overridable = &no
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a Decision document and checks its apiVersion and kind.
func (d *Decision) UnmarshalJSON(data []byte) error {
	var w wireDecision
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if w.APIVersion != APIVersion {
		return fmt.Errorf("apiVersion is %q, expected %q", w.APIVersion, APIVersion)
	}
	if w.Kind != "Decision" {
		return fmt.Errorf("kind is %q, expected \"Decision\"", w.Kind)
	}
	*d = Decision{Decision: w.Decision, Reasons: w.Reasons, RequiredApprovals: w.RequiredApprovals, Warnings: w.Warnings,
		RefusesOverride: w.Overridable != nil && !*w.Overridable}
	return nil
}
