# trusted-builder, in Rego: every promoted image must come with a verified SLSA provenance
# (images[].supplyChain.provenance, which the host fills only from an attestation a key of the
# environment's `trust:` signed) whose builder is one of settings.builders and whose source ref
# is settings.branch (default main).
#
# A sketch of what a team writes on top of `builtin:signed-images`: the built-in checks the
# signatures; this checks *who built* the digest, e.g. only the release workflow of the main
# branch, never a developer's laptop or a fork's CI.
#
# ABI promote.opa/v1: `input` is the EvaluationRequest, `decision` is the Decision. Messages use
# concat, not sprintf (see the qa-approved example).
#
# Build: opa build -t wasm -e promote/decision -e promote/validate_settings -b . --ignore '*_test.rego'
package promote

known_settings := {"builders", "branch"}

settings_problems contains msg if {
	some key, _ in input
	not key in known_settings
	msg := concat("", ["unknown settings key ", key, " (known: branch, builders)"])
}

settings_problems contains "builders must be a non-empty list of builder ids" if {
	b := object.get(input, "builders", [])
	not is_array(b)
}

settings_problems contains "builders must be a non-empty list of builder ids" if {
	count(object.get(input, "builders", [])) == 0
}

validate_settings := {"valid": true} if {
	is_object(input)
	count(settings_problems) == 0
} else := {"valid": false, "message": concat("; ", sort(settings_problems))}

branch := object.get(input.settings, "branch", "main")

builders := {b | some b in input.settings.builders}

api := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision"}

# The image's verified provenance; undefined when the host found none (null) or gathered no
# supply-chain facts at all (supplyChain null: no trust: or --skip-image-check).
provenance_of(image) := p if {
	is_object(image.supplyChain)
	p := image.supplyChain.provenance
	is_object(p)
}

reasons contains {"code": "NoProvenance", "message": msg} if {
	some image in input.promotion.images
	not provenance_of(image)
	msg := concat("", [image.name, ": no verified SLSA provenance (add attestations: [slsaprovenance] to the environment's trust, and attest the image in CI)"])
}

reasons contains {"code": "UntrustedBuilder", "message": msg} if {
	some image in input.promotion.images
	p := provenance_of(image)
	not p.builder in builders
	msg := concat("", [image.name, ": built by ", object.get(p, "builder", "an unnamed builder"), ", which is not a trusted builder"])
}

reasons contains {"code": "WrongSourceBranch", "message": msg} if {
	some image in input.promotion.images
	p := provenance_of(image)
	p.builder in builders
	ref := object.get(p, "sourceRef", "")
	not ref in {branch, concat("", ["refs/heads/", branch])}
	msg := concat("", [image.name, ": built from ", ref, ", not from branch ", branch])
}

decision := object.union(api, {"decision": "allow", "reasons": [], "warnings": ["trusted-builder only decides promotions"]}) if {
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
