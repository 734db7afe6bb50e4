# sensitive-objects, in Rego: a promotion that adds, removes or changes a Secret, an RBAC object
# or a CRD in a protected environment needs an approval by the platform team.
#
# It reads `promotion.renderDiff`: the host renders the environment before and after the change
# and diffs the objects (group/kind/namespace/name), so a sensitive change counts whatever edit
# made it: an image bump that pulls a new base, a patch, a component. A Secret's data keys appear
# in `fields`, never its values.
#
# Settings (all optional):
#   role:         the approver role of promote.yaml's `approvers` (default "platform")
#   kinds:        the kinds that are sensitive (default Secret, ClusterRole, ClusterRoleBinding,
#                 Role, RoleBinding, CustomResourceDefinition)
#   environments: where it applies (default: the protected environments)
#
# ABI promote.opa/v1: `input` is the EvaluationRequest, `decision` is the Decision.
# Build: opa build -t wasm -e promote/decision -e promote/validate_settings -b . --ignore '*_test.rego'
package promote

# ---- settings --------------------------------------------------------------------------------

known_settings := {"role", "kinds", "environments"}

default_kinds := ["Secret", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition"]

settings_problems contains "settings must be an object" if not is_object(input)

settings_problems contains msg if {
	is_object(input)
	some key, _ in input
	not key in known_settings
	msg := concat("", ["unknown settings key ", `"`, key, `"`, " (known: environments, kinds, role)"])
}

settings_problems contains "role must be a non-empty string" if {
	is_object(input)
	r := object.get(input, "role", "platform")
	not non_empty_string(r)
}

settings_problems contains msg if {
	is_object(input)
	some key in ["kinds", "environments"]
	v := object.get(input, key, [])
	not string_list(v)
	msg := concat("", [key, " must be a list of strings"])
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

string_list(v) if {
	is_array(v)
	every x in v {
		non_empty_string(x)
	}
}

validate_settings := {"valid": true} if {
	count(settings_problems) == 0
} else := {"valid": false, "message": concat("; ", sort(settings_problems))}

settings := object.get(input, "settings", {})

settings_ok if {
	is_object(settings)
	every key, _ in settings {
		key in known_settings
	}
	non_empty_string(role)
	string_list(kinds)
}

role := object.get(settings, "role", "platform")

kinds := object.get(settings, "kinds", default_kinds)

# ---- decision --------------------------------------------------------------------------------

api := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision"}

p := input.promotion

applies if {
	envs := settings.environments
	p.environment in envs
}

applies if {
	not settings.environments
	object.get(object.get(input.environments, p.environment, {}), "protected", false) == true
}

# The sensitive objects of the diff, as `Kind ns/name (changed)` in the diff's order.
sensitive := [concat("", [o.id, " (", o.change, ")"]) |
	some o in object.get(p, "renderDiff", [])
	o.kind in kinds
]

decision := object.union(api, {"decision": "allow", "warnings": ["sensitive-objects only decides promotions"]}) if {
	settings_ok
	p == null
} else := object.union(api, {"decision": "allow"}) if {
	settings_ok
	not applies
} else := object.union(api, {"decision": "allow"}) if {
	settings_ok
	count(sensitive) == 0
} else := object.union(api, {
	"decision": "require-approval",
	"reasons": [{"code": "SensitiveObjects", "message": message}],
	"requiredApprovals": [{"id": role, "environment": p.environment, "count": 1, "reason": message}],
}) if {
	settings_ok
}

message := concat("", [
	"this promotion changes ", concat(", ", sensitive), " in ", p.environment,
	": the ", role, " team approves (kubectl promote approve ", p.environment, " ", p.version,
	" --role ", role, ", or a review of the pull request)",
])
