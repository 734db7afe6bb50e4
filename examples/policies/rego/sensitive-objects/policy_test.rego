# Unit tests of sensitive-objects (run: opa test . -v). The JSON cases in cases/ are run against
# the built bundle by `kubectl promote policy test` and by the host's tests.
package promote_test

import data.promote

object(kind, change) := {
	"id": concat("", [kind, " shop/x"]), "group": "", "kind": kind, "namespace": "shop",
	"name": "x", "change": change, "fields": [],
}

request(diff, settings) := {
	"operation": "promote",
	"settings": settings,
	"promotion": {"environment": "prod", "version": "v2", "renderDiff": diff},
	"environments": {"prod": {"protected": true}, "staging": {"protected": false}},
}

test_a_changed_secret_needs_the_platform_team if {
	d := promote.decision with input as request([object("Deployment", "changed"), object("Secret", "changed")], {})
	d.decision == "require-approval"
	d.requiredApprovals[0].id == "platform"
	d.requiredApprovals[0].environment == "prod"
	contains(d.reasons[0].message, "Secret shop/x (changed)")
	not contains(d.reasons[0].message, "Deployment")
}

test_an_image_bump_alone_is_allowed if {
	d := promote.decision with input as request([object("Deployment", "changed")], {})
	d.decision == "allow"
}

test_unprotected_environments_are_not_judged if {
	r := json.patch(request([object("Secret", "added")], {}), [{"op": "replace", "path": "/promotion/environment", "value": "staging"}])
	d := promote.decision with input as r
	d.decision == "allow"
}

test_settings_choose_kinds_role_and_environments if {
	s := {"kinds": ["ConfigMap"], "role": "sre", "environments": ["staging"]}
	r := json.patch(request([object("ConfigMap", "removed")], s), [{"op": "replace", "path": "/promotion/environment", "value": "staging"}])
	d := promote.decision with input as r
	d.decision == "require-approval"
	d.requiredApprovals[0].id == "sre"
}

test_bad_settings_are_refused if {
	v := promote.validate_settings with input as {"kinds": "Secret", "colour": 1}
	v.valid == false
	contains(v.message, "kinds must be a list of strings")
	contains(v.message, "unknown settings key")
}
