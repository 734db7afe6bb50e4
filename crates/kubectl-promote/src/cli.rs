//! The command line: clap-derive structs, one per subcommand, and the global flags.
//! Parsing only; `commands/` turns these into use-case calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Promote releases between GitOps environments, gated by WebAssembly policies";

const AFTER_HELP: &str = "\
Examples:
  # Set every image of prod's overlay to v1.0.1 (edit, render check, policies, commit, push or PR)
  kubectl promote prod v1.0.1

  # Copy exactly what staging runs (each image's tag and digest) into prod
  kubectl promote prod --from staging

  # Show the plan: the diff, the render check and every policy verdict; change nothing
  kubectl promote prod v1.0.1 --dry-run

  # Only some images, with a digest
  kubectl promote prod v1.0.1 --only cartservice --digest cartservice=sha256:…

  # What each environment runs
  kubectl promote status

Exit codes: 0 done (or nothing to do) · 1 error · 2 usage · 3 denied by policy ·
4 waiting for an approval · 5 landed but not healthy in time.";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl promote",
    bin_name = "kubectl promote",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    subcommand_negates_reqs = true,
    override_usage = "kubectl promote ENV VERSION [OPTIONS]\n       kubectl promote ENV --from UPSTREAM [OPTIONS]\n       kubectl promote COMMAND [OPTIONS]",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub promote: PromoteArgs,
    #[command(flatten)]
    pub global: Global,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The GitOps repository: a path, or a URL to clone into the cache (default: the repository around the working directory)
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// The app to work on when promote.yaml declares `apps:`; a promotion takes several in one commit: `--app cart,checkout`, `--app 'shop-*'`
    #[arg(long, global = true, value_name = "APP")]
    pub app: Option<String>,
    /// Use this promote.yaml instead of the one at the remote tip (shown in the plan, recorded in a trailer)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A one-off policy module, added to the operation's policies
    #[arg(long, global = true, value_name = "PATH")]
    pub policy: Vec<PathBuf>,
    /// Do not read or write the caches (compiled policies, renders)
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Path to the kubeconfig file (as kubectl)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (as kubectl; wins over promote.yaml's argocd.context)
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig cluster (as kubectl)
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The kubeconfig user (as kubectl)
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Namespace of the Argo CD Applications (wins over promote.yaml's argocd.namespace)
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Timeout of a single request to the API server, e.g. 30s (as kubectl)
    #[arg(long, global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// Talk to argocd-server's REST API instead of the Kubernetes API [env: ARGOCD_SERVER]
    #[arg(long, global = true, value_name = "URL")]
    pub argocd_server: Option<String>,
    /// Output format of the result on stdout
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Print only the result, no progress
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// More detail on stderr (policy logs, git commands)
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to use colours
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `kubectl promote ENV VERSION | ENV --from UPSTREAM`
#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    /// The environment to promote into (an `environments[].name` of promote.yaml), a wave of
    /// promote.yaml, or environments promoted one after the other (prod-eu,prod-us)
    #[arg(value_name = "ENV", required = true)]
    pub env: Option<String>,
    /// The tag to set on every image of ENV's overlay
    #[arg(
        id = "target_version",
        value_name = "VERSION",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub version: Option<String>,
    /// Copy exactly what UPSTREAM's overlay runs (each image's tag and digest)
    #[arg(long, value_name = "UPSTREAM")]
    pub from: Option<String>,
    /// Only these images (comma-separated names as the overlay lists them)
    #[arg(long, value_name = "IMAGE,...", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Set a digest too (repeatable)
    #[arg(long, value_name = "IMAGE=sha256:...")]
    pub digest: Vec<String>,
    /// Remove digests the overlay pins (they would keep the old image running)
    #[arg(long)]
    pub drop_digest: bool,
    /// Write the digest each promoted tag resolves to in its registry now (beside the tag)
    #[arg(long, conflicts_with_all = ["drop_digest", "skip_image_check"])]
    pub pin_digests: bool,
    /// Print the plan (file diff, render check, every policy verdict); change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How much of the rendered diff the plan shows: none, summary (a line per object) or full
    /// (each object's patch) [default: summary; full with --dry-run]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub diff: Option<DiffLevel>,
    #[command(flatten)]
    pub land: LandingArgs,
    /// Wait (default 30m; e.g. --wait=2h): in PR mode for the merge first (closed unmerged exits
    /// 1); then until Argo CD deploys the commit, Synced and Healthy (syncing when auto-sync is
    /// off); not healthy in time exits 5
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "30m", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
    /// Promote into an environment rolled back with Argo CD, turning its auto-sync back on
    #[arg(long)]
    pub resume: bool,
    /// After Synced and Healthy, also check this (repeatable; implies --wait): a URL (expects
    /// 200) or one check as YAML, e.g. 'prometheus: {url: http://prom:9090, query: "…", below: 0.01}'
    #[arg(long, value_name = "CHECK")]
    pub check: Vec<String>,
    /// Stay Synced and Healthy (and pass the checks) this long, replacing verify.soak (implies --wait)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub soak: Option<std::time::Duration>,
    /// When the deploy goes Degraded, misses its deadline or fails a check: roll back (the
    /// env's rollback policies decide) and exit 5 (implies --wait; verify.onFailure: rollback)
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// Waves: continue a promotion in waves where an earlier run stopped (waves that already
    /// have the version are verified again, not promoted again)
    #[arg(long)]
    pub resume_waves: bool,
    /// Every app of promote.yaml's `apps:` that runs in ENV, in one commit (all or nothing)
    #[arg(long, conflicts_with = "app")]
    pub all_apps: bool,
    /// Save each policy's request and the decision it got in DIR, as test cases for
    /// `kubectl promote policy test DIR` (also with --dry-run)
    #[arg(long, value_name = "DIR")]
    pub save_requests: Option<PathBuf>,
}

/// What a promotion and a rollback that commits share: how it lands, and who says why.
#[derive(Debug, Clone, Args)]
pub struct LandingArgs {
    /// Open a pull request (default: the environment's mode in promote.yaml)
    #[arg(long, conflicts_with = "direct")]
    pub pr: bool,
    /// Push to the base branch (default: the environment's mode in promote.yaml)
    #[arg(long)]
    pub direct: bool,
    /// Skip the confirmation asked on a terminal for protected environments
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Break-glass: go ahead although a policy denies (only where the env has allowOverride: true); recorded everywhere
    #[arg(long, requires = "reason")]
    pub override_policy: bool,
    /// Why the override is needed (an incident id), with --override-policy
    #[arg(long, value_name = "TEXT", requires = "override_policy")]
    pub reason: Option<String>,
    /// The commit message's body (say why)
    #[arg(short = 'm', long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The commit author, "Name <email>" (default: git config user.name/user.email)
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
    /// Do not look the written images up in their registries (air-gapped use); recorded in the
    /// plan and the Image-Check trailer [env: KUBECTL_PROMOTE_SKIP_IMAGE_CHECK]
    #[arg(long)]
    pub skip_image_check: bool,
}

impl LandingArgs {
    /// `--pr` / `--direct`; `None`: the environment's mode.
    pub fn mode(&self) -> Option<promote_core::config::Mode> {
        if self.pr {
            Some(promote_core::config::Mode::Pr)
        } else if self.direct {
            Some(promote_core::config::Mode::Direct)
        } else {
            None
        }
    }

    /// `--author`, parsed.
    pub fn author(&self) -> Result<Option<promote_core::Person>, String> {
        self.author
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("--author: {e}"))
    }

    /// The break-glass reason, when `--override-policy` was given.
    pub fn override_reason(&self) -> Option<String> {
        self.override_policy.then(|| self.reason.clone()).flatten()
    }
}

/// `90s`, `5m`, `1h30m`, `250ms`: a number and a unit, repeated (more than zero).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    promote_core::duration::parse(text)
}

/// How much of a rendered diff to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffLevel {
    None,
    Summary,
    Full,
}

// Each subcommand's examples (`after_help`) sit on its args struct, with its flags.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record that VERSION is good on ENV ("v1.0.1 is good on staging"), or --revoke that
    Approve(ApproveArgs),
    /// Record that VERSION is not good on ENV, with a reason: it is not promoted on
    Reject(RejectArgs),
    /// What each environment runs: version (or "mixed" with per-image tags) and last promotion
    Status(StatusArgs),
    /// Write promote.yaml from the overlays and Argo CD Applications found in the repository
    Init(InitArgs),
    /// Go back: revert the promotion in git (reviewed like a promotion)
    Rollback(RollbackArgs),
    /// Refresh Argo CD and sync ENV to what git holds (a sync operation when auto-sync is off)
    Sync(SyncArgs),
    /// ENV's Argo CD history: each deployment with the version it ran, who started it, wasHealthy
    History(HistoryArgs),
    /// Turn auto-sync back on after an argocd rollback (refused while git holds the bad version)
    Resume(ResumeArgs),
    /// Print shell completion code (bash, zsh, fish, powershell, elvish), or kubectl's plugin completion hook
    Completion(CompletionArgs),
    /// Policy modules: list, inspect, evaluate a request, run test cases, package for krew
    #[command(subcommand, after_help = POLICY_HELP)]
    Policy(PolicyCommand),
    /// CI / branch protection: re-run the render check and the promote policies on a change to the overlays
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// What the cluster would run differently: a promotion's rendered diff, or two revisions'
    Diff(DiffArgs),
    /// Print the version
    #[command(
        after_help = "Examples:\n  kubectl promote version\n  kubectl promote version -o json"
    )]
    Version,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status(_) => "status",
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Init(_) => "init",
            Command::Completion(_) => "completion",
            Command::Rollback(_) => "rollback",
            Command::Sync(_) => "sync",
            Command::History(_) => "history",
            Command::Resume(_) => "resume",
            Command::Version => "version",
            Command::Policy(_) => "policy",
            Command::Verify(_) => "verify",
            Command::Diff(_) => "diff",
        }
    }
}

const STATUS_HELP: &str = "\
Examples:
  kubectl promote status
  kubectl promote status prod -o json";

#[derive(Debug, Args)]
#[command(after_help = STATUS_HELP)]
pub struct StatusArgs {
    /// Only this environment
    pub env: Option<String>,
}

const ROLLBACK_HELP: &str = "\
Examples:
  # Revert the promotion that brought what prod runs now
  kubectl promote rollback prod

  # Back to the newest state in which prod ran v1.0.1, as a pull request
  kubectl promote rollback prod --to v1.0.1 --pr

  # Show the revert without doing it
  kubectl promote rollback prod --dry-run";

#[derive(Debug, Args)]
#[command(after_help = ROLLBACK_HELP)]
pub struct RollbackArgs {
    /// The environment to roll back (required: a rollback never defaults to an environment)
    pub env: String,
    /// Back to the newest state in which ENV ran this version
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Back to ENV's overlay as it was at this commit
    #[arg(long, value_name = "SHA")]
    pub to_revision: Option<String>,
    /// Back to this Argo CD history id (see `kubectl promote history ENV`); implies --strategy argocd
    #[arg(long, value_name = "ID", conflicts_with_all = ["to", "to_revision"])]
    pub to_id: Option<i64>,
    /// How to go back (default: argocd where Argo CD's history holds the target, else revert)
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Wait until the rollback runs (default 30m): argocd, the operation Succeeded and the app
    /// Healthy (OutOfSync is expected); revert, as a promotion's --wait; not healthy in time exits 5
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "30m", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
    /// Print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub land: LandingArgs,
    /// Save each policy's request and the decision it got in DIR, as test cases for
    /// `kubectl promote policy test DIR` (also with --dry-run)
    #[arg(long, value_name = "DIR")]
    pub save_requests: Option<PathBuf>,
}

/// Rollback strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Argo CD's history rollback (fast): auto-sync off (prune/selfHeal kept), a rollback marker,
    /// the rollback operation; `kubectl promote resume ENV` ends it
    Argocd,
    /// Revert the promotion in git: a reviewed change, pushed or opened as a pull request
    Revert,
}

const SYNC_HELP: &str = "\
Examples:
  kubectl promote sync prod
  kubectl promote sync prod --wait=10m
  kubectl promote sync prod --argocd-server https://argocd.example.com   # token: ARGOCD_AUTH_TOKEN";

#[derive(Debug, Args)]
#[command(after_help = SYNC_HELP)]
pub struct SyncArgs {
    /// The environment whose Argo CD application to sync
    pub env: String,
    /// Wait until ENV runs what git holds, Synced and Healthy (default 30m); not in time exits 5
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true, default_missing_value = "30m", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
}

const DIFF_HELP: &str = "\
Examples:
  # What promoting prod to v1.0.1 changes in the rendered manifests (nothing is written)
  kubectl promote diff prod v1.0.1
  kubectl promote diff prod --from staging --diff summary

  # What a rollback to the commit before the last promotion would undo
  kubectl promote diff prod --between origin/main origin/main~1 -o json";

#[derive(Debug, Args)]
#[command(after_help = DIFF_HELP)]
pub struct DiffArgs {
    /// The environment (an `environments[].name` of promote.yaml)
    pub env: String,
    /// The version to diff a promotion to (as `kubectl promote ENV VERSION`)
    #[arg(id = "diff_version", value_name = "VERSION", conflicts_with_all = ["from", "between"])]
    pub version: Option<String>,
    /// Diff the promotion from UPSTREAM (as `kubectl promote ENV --from UPSTREAM`)
    #[arg(long, value_name = "UPSTREAM", conflicts_with = "between")]
    pub from: Option<String>,
    /// Diff ENV's render at two revisions instead of a promotion
    #[arg(long, num_args = 2, value_names = ["REV1", "REV2"])]
    pub between: Option<Vec<String>>,
    /// Only these images (as `kubectl promote --only`)
    #[arg(long, value_delimiter = ',', value_name = "IMAGE,...")]
    pub only: Vec<String>,
    /// summary (a line per object) or full (each object's patch)
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "full")]
    pub diff: DiffLevel,
    /// Do not look the images up in their registries
    #[arg(long)]
    pub skip_image_check: bool,
}

const HISTORY_HELP: &str = "\
Examples:
  kubectl promote history prod
  kubectl promote history prod --limit 5 -o json";

#[derive(Debug, Args)]
#[command(after_help = HISTORY_HELP)]
pub struct HistoryArgs {
    /// The environment whose Argo CD history to list
    pub env: String,
    /// At most this many entries, newest first
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

const RESUME_HELP: &str = "\
Examples:
  # After reverting the bad promotion in git
  kubectl promote resume prod

  # Resume although git still holds the version rolled back from
  kubectl promote resume prod --force";

#[derive(Debug, Args)]
#[command(after_help = RESUME_HELP)]
pub struct ResumeArgs {
    /// The environment rolled back with `--strategy argocd`
    pub env: String,
    /// Resume although git still holds the version rolled back from (Argo CD deploys it again)
    #[arg(long)]
    pub force: bool,
}

/// Where and as whom a verdict is recorded (`approve`, `reject`); VERSION stays with each
/// command, whose help says what it is there. ENV comes first: it is declared before VERSION.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The environment the version was tested in (or is going to)
    #[arg(value_name = "ENV")]
    pub env: String,
    /// The approver role, a key of `approvers` in promote.yaml
    #[arg(long, default_value = "qa")]
    pub role: String,
}

const APPROVE_HELP: &str = "\
Examples:
  # QA approves what staging runs (bound to its images' tags and digests)
  kubectl promote approve staging v1.0.1

  # The project manager's approval, with a note
  kubectl promote approve prod v1.0.1 --role pm -m \"release notes checked\"

  # Take an approval back
  kubectl promote approve --revoke staging v1.0.1

Records go to the approvals branch (git.approvalsBranch, default promote/approvals):
  git log origin/promote/approvals";

#[derive(Debug, Args)]
#[command(after_help = APPROVE_HELP)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub record: RecordArgs,
    /// The version (the tag ENV's images run)
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// A note kept with the record
    #[arg(short = 'm', long, value_name = "NOTE")]
    pub message: Option<String>,
    /// Revoke the approval in force instead
    #[arg(long)]
    pub revoke: bool,
}

const REJECT_HELP: &str = "\
Examples:
  kubectl promote reject staging v1.0.2 -m \"checkout fails with a 500\"
  kubectl promote reject prod v1.0.2 --role pm -m \"not in this release window\"";

#[derive(Debug, Args)]
#[command(after_help = REJECT_HELP)]
pub struct RejectArgs {
    #[command(flatten)]
    pub record: RecordArgs,
    /// The version (a tag)
    #[arg(value_name = "VERSION")]
    pub version: String,
    /// Why: kept with the record and shown wherever the rejection blocks
    #[arg(short = 'm', long, value_name = "REASON", required = true)]
    pub message: String,
}

const INIT_HELP: &str = "\
Examples:
  kubectl promote init
  kubectl promote init --force   # overwrite an existing promote.yaml";

#[derive(Debug, Args)]
#[command(after_help = INIT_HELP)]
pub struct InitArgs {
    /// Overwrite an existing promote.yaml
    #[arg(long)]
    pub force: bool,
}

const POLICY_HELP: &str = "\
Examples:
  # The built-ins, the modules promote.yaml configures (at the remote tip) and --policy one-offs
  kubectl promote policy list
  kubectl promote policy list --policy ./cost-guard.wasm -o json

  # Metadata, digest, import/export check and limits of a module
  kubectl promote policy inspect builtin:change-window
  kubectl promote policy inspect policies/cost-guard.wasm   # sidecar promote-policy.yaml beside it is read

  # Evaluate one request (exit 0 allow, 3 deny, 4 require-approval, 1 policy error)
  kubectl promote policy eval builtin:semver-guard --input request.json --settings settings.yaml

  # Run test cases: DIR/cases/*.json against the module in DIR, or each DIR/NAME/*.json
  # against builtin:NAME (default DIR: ./cases, else ./policies/cases)
  kubectl promote policy test ./max-images
  kubectl promote policy test policies/cases

  # A module installed by krew (plugin promote-policy-NAME), as promote.yaml's `module: krew:NAME`
  kubectl promote policy inspect krew:cost-guard

  # Package a module for krew (see `kubectl promote policy package --help`)
  kubectl promote policy package ./cost-guard --out-dir dist";

const VERIFY_HELP: &str = "\
Examples:
  # In CI on a pull request: what HEAD changes since it left the base branch
  kubectl promote verify

  # One commit, or a range
  kubectl promote verify 3f2a9c1
  kubectl promote verify origin/main..feature

  # Fetch the pull request's head (GitHub/Gitea refs/pull/N/head, GitLab refs/merge-requests/N/head)
  kubectl promote verify --pr 42

The configuration and policy modules come from the base branch's tip on the remote, never from
the change itself. Exit codes: 0 allowed (or no environment changed) · 1 error · 3 denied ·
4 approvals missing.";

/// `kubectl promote policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The built-in modules, the ones promote.yaml configures, and --policy one-offs
    List,
    /// A module's metadata, digest, import/export check and limits
    Inspect(PolicyInspectArgs),
    /// Evaluate one request file and print the Decision, the fuel and the time it took
    Eval(PolicyEvalArgs),
    /// Run policy test cases (`cases/*.json`) through the real sandbox
    Test(PolicyTestArgs),
    /// Package a module for krew: a reproducible .tar.gz and its plugin manifest
    #[command(after_help = POLICY_PACKAGE_HELP)]
    Package(PolicyPackageArgs),
    /// Start a policy project (Rust, Go or Rego) that builds and tests offline as generated
    #[command(after_help = POLICY_NEW_HELP)]
    New(PolicyNewArgs),
    /// Evaluate one request N times: p50/p99 time and fuel per evaluation, to size `resources`
    Bench(PolicyBenchArgs),
    /// Write a policy SDK (Go or Rust) to a directory, for projects not made by `policy new`
    #[command(after_help = POLICY_SDK_HELP)]
    Sdk(PolicySdkArgs),
}

const POLICY_NEW_HELP: &str = "\
Examples:
  # A Go policy in ./cost-guard: source, unit test, metadata, cases/, build.sh, the SDK in sdk/go
  kubectl promote policy new cost-guard --lang go

  # A Rust policy deciding promotions and rollbacks, in policies/cost-guard
  kubectl promote policy new cost-guard --lang rust --decides promote,rollback --dir policies/cost-guard

  # Then: test natively, build (prints the sha256 and the promote.yaml snippet), test in the sandbox
  cd cost-guard && go test ./... && ./build.sh && kubectl promote policy test .

Nothing is fetched: Go builds against the vendored SDK (a `replace`), Rust with `cargo
--offline` (serde and serde_json from the local cargo cache), Rego with `opa`. Walk-through:
docs/policy-authoring/README.md.";

const POLICY_SDK_HELP: &str = "\
Examples:
  kubectl promote policy sdk --lang go --out third_party/promote-sdk
  go mod edit -require github.com/kubectl-promote/kubectl-promote/sdk/go@v0.0.0 \\
    -replace github.com/kubectl-promote/kubectl-promote/sdk/go=./third_party/promote-sdk

  kubectl promote policy sdk --lang rust --out sdk/rust
  # Cargo.toml: promote-policy-sdk = { path = \"sdk/rust\" }

The SDK written is the one this binary was built with.";

/// `--lang` of `policy new`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PolicyLang {
    Rust,
    Go,
    Rego,
}

/// `--lang` of `policy sdk`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SdkLang {
    Go,
    Rust,
}

/// An operation a new policy decides (`--decides`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DecidedOperation {
    Promote,
    Rollback,
}

#[derive(Debug, Args)]
pub struct PolicyNewArgs {
    /// The policy's name: lowercase letters, digits and dashes (the krew plugin is promote-policy-NAME)
    pub name: String,
    /// The language of the project
    #[arg(long, value_enum)]
    pub lang: PolicyLang,
    /// The operations it decides
    #[arg(long, value_enum, value_delimiter = ',', default_value = "promote")]
    pub decides: Vec<DecidedOperation>,
    /// Where to write it (default: ./NAME); must not exist or be empty
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicySdkArgs {
    /// The SDK's language
    #[arg(long, value_enum)]
    pub lang: SdkLang,
    /// The directory to write it to; must not exist or be empty
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

const POLICY_PACKAGE_HELP: &str = "\
Examples:
  # promote-policy-cost-guard-v0.1.0.tar.gz and promote-policy-cost-guard.yaml in ./dist
  kubectl promote policy package ./cost-guard --out-dir dist

  # For a custom krew index: the release URL the archive will be uploaded to
  kubectl promote policy package ./cost-guard --version v0.2.0 --out-dir dist \\
    --uri 'https://github.com/acme/policies/releases/download/{version}/{archive}'

  # Try it locally, then use it in promote.yaml as `module: krew:cost-guard`
  kubectl krew install --manifest=dist/promote-policy-cost-guard.yaml \\
    --archive=dist/promote-policy-cost-guard-v0.1.0.tar.gz

DIR holds the module (a promote-policy.yaml naming it, one .wasm, or one cargo built under
target/wasm32-wasip1/release/) and a LICENSE. Publishing: docs/policies.md, \"Publish your
policy with krew\".";

#[derive(Debug, Args)]
pub struct PolicyPackageArgs {
    /// The policy directory (module + LICENSE), or the module file (LICENSE beside it)
    pub dir: PathBuf,
    /// The package version (default: the module's metadata version, with a leading `v`)
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// Where to write the archive and the manifest (`-o` is the output format)
    #[arg(long, value_name = "OUTDIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// Download URL of the archive, or a template with {name} {plugin} {version} {archive}
    /// (default: a file:// URI of the written archive, for `kubectl krew install --archive`)
    #[arg(long, value_name = "URL")]
    pub uri: Option<String>,
    /// The licence to ship (default: DIR/LICENSE)
    #[arg(long, value_name = "FILE")]
    pub license: Option<PathBuf>,
    /// `spec.homepage` of the krew manifest
    #[arg(long, value_name = "URL")]
    pub homepage: Option<String>,
}

#[derive(Debug, Args)]
pub struct PolicyInspectArgs {
    /// `builtin:NAME`, `krew:NAME`, a `.wasm` file, or a directory holding one (or a promote-policy.yaml naming it)
    pub module: String,
}

#[derive(Debug, Args)]
pub struct PolicyEvalArgs {
    /// `builtin:NAME`, a `.wasm` file, or a directory holding one
    pub module: String,
    /// The EvaluationRequest (JSON; `-` reads stdin)
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Settings (JSON or YAML) that replace the request's `settings`
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyBenchArgs {
    /// `builtin:NAME`, `krew:NAME`, a `.wasm` file, or a directory holding one
    pub module: String,
    /// The EvaluationRequest, or a test case holding one (JSON; `-` reads stdin)
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Settings (JSON or YAML) that replace the request's `settings`
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// How many evaluations, each in a fresh instance
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub iterations: u32,
}

#[derive(Debug, Args)]
pub struct PolicyTestArgs {
    /// A policy directory (module + `cases/`), a directory of cases, or one of per-module
    /// subdirectories (default: ./cases, else ./policies/cases)
    pub dir: Option<PathBuf>,
    /// Also write the results as JUnit XML to FILE (for CI test reports)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// `A..B`, `A...B` or one commit (`C` = `C^..C`); default: merge-base(HEAD, base tip)..HEAD
    #[arg(value_name = "REV", conflicts_with = "pr")]
    pub rev: Option<String>,
    /// Verify pull request N: fetch its head from the remote
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Do not ask the registries for the signatures of environments with a `trust:` (air-gapped
    /// use); each says who skipped it, and their policies see no signatures
    /// [env: KUBECTL_PROMOTE_SKIP_IMAGE_CHECK]
    #[arg(long)]
    pub skip_image_check: bool,
    /// Save each policy's request and the decision it got in DIR, as test cases for
    /// `kubectl promote policy test DIR` (also with --dry-run)
    #[arg(long, value_name = "DIR")]
    pub save_requests: Option<PathBuf>,
}

const COMPLETION_HELP: &str = "\
Examples:
  source <(kubectl promote completion bash)
  kubectl promote completion zsh > \"${fpath[1]}/_kubectl-promote\"

  # `kubectl promote <TAB>` inside kubectl's own completion (kubectl >= 1.26): an executable on PATH
  kubectl promote completion kubectl-hook > ~/.krew/bin/kubectl_complete-promote
  chmod +x ~/.krew/bin/kubectl_complete-promote";

#[derive(Debug, Args)]
#[command(after_help = COMPLETION_HELP)]
pub struct CompletionArgs {
    pub shell: CompletionShell,
}

/// `kubectl promote completion SHELL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
    /// The `kubectl_complete-promote` script that makes `kubectl promote <TAB>` complete (kubectl >= 1.26)
    KubectlHook,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(super::parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            super::parse_duration("1h30m"),
            Ok(Duration::from_secs(5400))
        );
        assert_eq!(
            super::parse_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert!(super::parse_duration("5").is_err());
        assert!(super::parse_duration("5x").is_err());
        assert!(super::parse_duration("0s").is_err());
        assert!(super::parse_duration("").is_err());
    }
}
