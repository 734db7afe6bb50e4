//! The files of a new policy project, per language: the source with a rule worth replacing
//! (deny what the `frozen` setting lists), a native unit test, the metadata, two `cases/`, a
//! build script that prints the module's sha256 and the promote.yaml snippet, and the SDK
//! vendored under `sdk/` (Go and Rust; Rego needs none).

use std::path::Path;

use promote_policy_sdk::{ABI_WASI_COMMAND_V1, OperationKind};

use super::cases;
use super::sdk::{self, SdkLang};
use super::written::{Lang, Written};

const RUST_MAIN: &str = include_str!("templates/rust/main.rs.tmpl");
const RUST_CARGO: &str = include_str!("templates/rust/Cargo.toml.tmpl");
const RUST_BUILD: &str = include_str!("templates/rust/build.sh.tmpl");
const RUST_IGNORE: &str = include_str!("templates/rust/gitignore.tmpl");
const GO_MAIN: &str = include_str!("templates/go/main.go.tmpl");
const GO_TEST: &str = include_str!("templates/go/main_test.go.tmpl");
const GO_MOD: &str = include_str!("templates/go/go.mod.tmpl");
const GO_BUILD: &str = include_str!("templates/go/build.sh.tmpl");
const GO_IGNORE: &str = include_str!("templates/go/gitignore.tmpl");
const REGO_POLICY: &str = include_str!("templates/rego/policy.rego.tmpl");
const REGO_TEST: &str = include_str!("templates/rego/policy_test.rego.tmpl");
const REGO_BUILD: &str = include_str!("templates/rego/build.sh.tmpl");
const REGO_IGNORE: &str = include_str!("templates/rego/gitignore.tmpl");

/// The ABI name of Rego bundles.
const ABI_OPA_V1: &str = "promote.opa/v1";

/// Every file of the project, by path relative to its directory.
pub fn files(lang: Lang, name: &str, decides: &[OperationKind]) -> Vec<Written> {
    let fill = |t: &str| t.replace("__NAME__", name);
    let module = module_file(lang);
    let footer = footer(name, module, decides, lang == Lang::Go);
    let build = |t: &str| fill(t).replace("__FOOTER__", &footer);
    let ops = serde_json::to_string(decides).unwrap_or_default();
    let mut out = match lang {
        Lang::Rust => vec![
            Written::file("Cargo.toml", fill(RUST_CARGO)),
            Written::file("src/main.rs", fill(RUST_MAIN)),
            Written::file(
                "policy.json",
                format!(
                    "{{\"name\":\"{name}\",\"version\":\"0.1.0\",\"abi\":\"{ABI_WASI_COMMAND_V1}\",\"operations\":{ops}}}\n"
                ),
            ),
            Written::script("build.sh", build(RUST_BUILD)),
            Written::file(".gitignore", RUST_IGNORE.to_owned()),
        ],
        Lang::Go => vec![
            Written::file("go.mod", fill(GO_MOD)),
            Written::file("main.go", fill(GO_MAIN)),
            Written::file("main_test.go", fill(GO_TEST)),
            Written::file(
                "promote-policy.yaml",
                format!(
                    "# Metadata of {name}, read by kubectl promote without running the module.\n\
                     name: {name}\nversion: 0.1.0\nabi: {ABI_WASI_COMMAND_V1}\noperations: {ops}\nmodule: policy.wasm\n"
                ),
            ),
            Written::script("build.sh", build(GO_BUILD)),
            Written::file(".gitignore", GO_IGNORE.to_owned()),
        ],
        Lang::Rego => vec![
            Written::file("policy.rego", fill(REGO_POLICY)),
            Written::file("policy_test.rego", fill(REGO_TEST)),
            Written::file(
                ".manifest",
                format!(
                    "{{\n  \"roots\": [\"promote\"],\n  \"metadata\": {{\"kubectl-promote\": {{\"name\": \"{name}\", \"version\": \"0.1.0\", \"abi\": \"{ABI_OPA_V1}\", \"operations\": {ops}}}}}\n}}\n"
                ),
            ),
            Written::script("build.sh", build(REGO_BUILD)),
            Written::file(".gitignore", REGO_IGNORE.to_owned()),
        ],
    };
    out.push(Written::file("README.md", readme(lang, name)));
    let case_op = decides
        .iter()
        .copied()
        .find(|o| *o != OperationKind::Verify)
        .unwrap_or(OperationKind::Promote);
    for (file, case) in cases::cases(case_op) {
        let text = serde_json::to_string_pretty(&case).unwrap_or_default() + "\n";
        out.push(Written::file(Path::new("cases").join(file), text));
    }
    let vendored = match lang {
        Lang::Rust => Some((SdkLang::Rust, "sdk/rust")),
        Lang::Go => Some((SdkLang::Go, "sdk/go")),
        Lang::Rego => None,
    };
    if let Some((sdk_lang, at)) = vendored {
        out.extend(sdk::files(sdk_lang).into_iter().map(|mut w| {
            w.path = Path::new(at).join(&w.path);
            w
        }));
    }
    out
}

/// The file the build script writes: what `policy test .` and promote.yaml use.
fn module_file(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::Go => "policy.wasm",
        Lang::Rego => "bundle.tar.gz",
    }
}

/// The end of every build script: the module's sha256 and the promote.yaml snippet pinning it.
fn footer(name: &str, module: &str, decides: &[OperationKind], sidecar: bool) -> String {
    let copy = if sidecar {
        format!("{module} and promote-policy.yaml")
    } else {
        module.to_owned()
    };
    let mut snippet = String::new();
    for op in decides {
        snippet.push_str(&format!(
            "      {op}:\n        - {{module: policies/{name}/{module}, sha256: \"$sum\", settings: {{frozen: []}}}}\n"
        ));
    }
    format!(
        "if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum {module} | cut -d' ' -f1)\n\
         else sum=$(shasum -a 256 {module} | cut -d' ' -f1); fi\n\
         echo \"built {module}  sha256:$sum\"\n\
         cat <<EOF\n\
         \n\
         Copy {copy} into your GitOps repo as policies/{name}/, commit, push, and pin it in\n\
         promote.yaml under an environment:\n\
         \n    policies:\n{snippet}\n\
         Test it here first: kubectl promote policy test .\n\
         EOF\n"
    )
}

/// The commands from a fresh project to a module, shown by `policy new`.
pub fn next_steps(lang: Lang, dir: &str) -> Vec<String> {
    let test = match lang {
        Lang::Rust => "cargo test --offline",
        Lang::Go => "go test ./...",
        Lang::Rego => "opa test --ignore cases . -v",
    };
    vec![
        format!("cd {dir}"),
        test.to_owned(),
        "./build.sh".to_owned(),
        "kubectl promote policy test .".to_owned(),
    ]
}

fn readme(lang: Lang, name: &str) -> String {
    let (source, test, sdk) = match lang {
        Lang::Rust => (
            "src/main.rs",
            "cargo test --offline",
            "The SDK is vendored in sdk/rust (`kubectl promote policy sdk --lang rust --out DIR` writes it again).\n",
        ),
        Lang::Go => (
            "main.go",
            "go test ./...",
            "The SDK is vendored in sdk/go (`kubectl promote policy sdk --lang go --out DIR` writes it again).\n",
        ),
        Lang::Rego => ("policy.rego", "opa test --ignore cases . -v", ""),
    };
    let module = module_file(lang);
    format!(
        "# {name}\n\n\
         A kubectl promote policy ({lang}), generated by `kubectl promote policy new`. As generated it\n\
         denies any operation on an environment listed in its `frozen` setting; replace the rule in\n\
         {source} and the situations in cases/.\n\n\
         ```sh\n\
         {test}                      # the unit tests, natively\n\
         ./build.sh                         # {module}, its sha256 and the promote.yaml snippet\n\
         kubectl promote policy test .      # cases/*.json in the sandbox\n\
         kubectl promote policy package . --out-dir dist   # a krew plugin (add a LICENSE first)\n\
         ```\n\n\
         {sdk}\
         Turn a real promotion into a case: `kubectl promote prod v1.0.1 --dry-run --save-requests cases/`.\n",
        lang = lang.name(),
    )
}
