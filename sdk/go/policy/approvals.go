package policy

// Which approval records are in force. The request lists records in time order; a later record
// replaces an earlier one for the same key, so a rejection or revocation after an approval
// wins. The contract's key is (environment, version, role); counting N distinct approvers also
// keys by approver. Same rules as the Rust SDK's latest_approval / latest_per_approver.

import "strings"

// LatestApproval is the record in force for (environment, version, role): the last one in
// the list, or nil when there is none.
func LatestApproval(records []ApprovalRecord, environment, version, role string) *ApprovalRecord {
	for i := len(records) - 1; i >= 0; i-- {
		r := &records[i]
		if r.Environment == environment && r.Version == version && r.Role == role {
			return r
		}
	}
	return nil
}

// LatestPerApprover is the record in force per approver for (environment, version, role), in
// order of each approver's first appearance. Approvers are told apart by ApproverKey.
func LatestPerApprover(records []ApprovalRecord, environment, version, role string) []*ApprovalRecord {
	var keys []string
	latest := map[string]*ApprovalRecord{}
	for i := range records {
		r := &records[i]
		if r.Environment != environment || r.Version != version || r.Role != role {
			continue
		}
		k := ApproverKey(r)
		if _, seen := latest[k]; !seen {
			keys = append(keys, k)
		}
		latest[k] = r
	}
	out := make([]*ApprovalRecord, 0, len(keys))
	for _, k := range keys {
		out = append(out, latest[k])
	}
	return out
}

// ApproverKey tells approvers apart: the lower-cased e-mail, else the name, else "<unknown>".
func ApproverKey(r *ApprovalRecord) string {
	if r.By.Email != nil && *r.By.Email != "" {
		return strings.ToLower(*r.By.Email)
	}
	if r.By.Name != nil && *r.By.Name != "" {
		return *r.By.Name
	}
	return "<unknown>"
}

// SameImage reports whether actual is the image wanted names: equal tags, and equal digests
// where wanted has one.
func SameImage(wanted, actual ImageRef) bool {
	return eqPtr(wanted.Tag, actual.Tag) && (wanted.Digest == nil || eqPtr(wanted.Digest, actual.Digest))
}

// Equal reports whether r and o name the same tag and the same digest (nil equals only nil).
func (r ImageRef) Equal(o ImageRef) bool {
	return eqPtr(r.Tag, o.Tag) && eqPtr(r.Digest, o.Digest)
}

// String is `v1.0.1@sha256:abcdef012345` (the digest cut to 12 hex digits) or `v1.0.1`, for
// messages.
func (r ImageRef) String() string {
	tag := "<no tag>"
	if r.Tag != nil {
		tag = *r.Tag
	}
	if r.Digest == nil {
		return tag
	}
	d := *r.Digest
	if len(d) > 19 {
		d = d[:19]
	}
	return tag + "@" + d
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
