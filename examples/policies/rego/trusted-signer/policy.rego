# trusted-signer, in Rego: every promoted image must carry a keyless signature that the host
# verified (images[].supplyChain.signatures[]: the Fulcio certificate chains to the
# environment's trusted root, the Rekor entry checks out, the payload names the digest) and
# whose identity is one of settings.identities: the OIDC issuer and the subject (the workflow
# URI or email) the certificate names.
#
# A sketch of a rule `builtin:signed-images` does not make: different identities per
# environment, or a subject prefix for every workflow of one repository (settings.prefixes).
#
# ABI promote.opa/v1: `input` is the EvaluationRequest, `decision` is the Decision. Messages use
# concat, not sprintf (see the qa-approved example).
#
# Build: opa build -t wasm -e promote/decision -e promote/validate_settings -b . --ignore '*_test.rego'
package promote

known_settings := {"identities", "prefixes"}

settings_problems contains msg if {
	some key, _ in input
	not key in known_settings
	msg := concat("", ["unknown settings key ", key, " (known: identities, prefixes)"])
}

settings_problems contains "identities must be a list of {issuer, subject}" if {
	some i in object.get(input, "identities", [])
	not is_string(object.get(i, "issuer", null))
}

settings_problems contains "identities must be a list of {issuer, subject}" if {
	some i in object.get(input, "identities", [])
	not is_string(object.get(i, "subject", null))
}

settings_problems contains "give identities or prefixes" if {
	count(object.get(input, "identities", [])) + count(object.get(input, "prefixes", [])) == 0
}

validate_settings := {"valid": true} if {
	is_object(input)
	count(settings_problems) == 0
} else := {"valid": false, "message": concat("; ", sort(settings_problems))}

api := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision"}

# The identities of the image's verified keyless signatures (key-based ones have none).
verified_identities(image) := {s.identity |
	is_object(image.supplyChain)
	some s in image.supplyChain.signatures
	s.verified == true
	is_object(s.identity)
}

trusted(id) if {
	some want in object.get(input.settings, "identities", [])
	want.issuer == id.issuer
	want.subject == id.subject
}

trusted(id) if {
	some p in object.get(input.settings, "prefixes", [])
	startswith(id.subject, p)
}

reasons contains {"code": "NoTrustedSigner", "message": msg} if {
	some image in input.promotion.images
	count({id | some id in verified_identities(image); trusted(id)}) == 0
	seen := [s.identity.subject | some s in object.get(object.get(image, "supplyChain", {}), "signatures", []); is_object(s.identity)]
	msg := concat("", [image.name, ": no verified keyless signature by a trusted identity (signed by: ", concat(", ", seen), ")"])
}

decision := object.union(api, {"decision": "allow", "reasons": [], "warnings": ["trusted-signer only decides promotions"]}) if {
	input.operation != "promote"
}

decision := object.union(api, {"decision": "deny", "reasons": [r | some r in reasons]}) if {
	input.operation == "promote"
	count(reasons) > 0
}

decision := object.union(api, {"decision": "allow", "reasons": []}) if {
	input.operation == "promote"
	count(reasons) == 0
}
