"""The Azure templates under infra/ declare what the deployment needs, and only by reference.

No Bicep CLI here: a small scanner strips comments, finds `resource`/`module`/`var`/`param`
blocks by brace matching (strings and `${...}` interpolations skipped) and the assertions
read their bodies.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
ENVIRONMENTS = ("dev", "prod")

# Every secret named in the design's environment table, plus the database credentials.
DESIGN_SECRETS = (
    "XAI_API_KEY",
    "LANGSMITH_API_KEY",
    "LANGSMITH_PROJECT",
    "LONA_GATEWAY_URL",
    "LONA_AGENT_TOKEN",
    "LONA_AGENT_ID",
    "LIVE_ENGINE_URL",
    "LIVE_ENGINE_API_KEY",
    "NEXUS_API_TOKENS",
    "DAGSTER_PG_PASSWORD",
    "MLFLOW_BACKEND_STORE_URI",
    "NEXUS_AUDIT_DATABASE_URL",
)

ROLES = {
    "serving": "serve",
    "webserver": "dagster-webserver",
    "daemon": "dagster-daemon",
    "code": "code-server",
    "mlflow": "mlflow",
}

ROLE_IDS = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}


# ---------------------------------------------------------------------------------------
# A minimal Bicep scanner
# ---------------------------------------------------------------------------------------


def _skip_string(text: str, i: int) -> int:
    """Index just past the single-quoted string starting at text[i] (interpolations nested)."""
    assert text[i] == "'"
    if text.startswith("'''", i):
        end = text.index("'''", i + 3)
        return end + 3
    i += 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char == "'":
            return i + 1
        elif text.startswith("${", i):
            i = _skip_braces(text, i + 1)
        else:
            i += 1
    raise ValueError("unterminated string")


def _skip_braces(text: str, i: int) -> int:
    """Index just past the `{...}` group starting at text[i]."""
    assert text[i] == "{"
    depth = 0
    while i < len(text):
        char = text[i]
        if char == "'":
            i = _skip_string(text, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def strip_comments(text: str) -> str:
    """The source with `//` and `/* */` comments removed (strings left intact)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "'":
            end = _skip_string(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


DECLARATION = re.compile(
    r"^(?P<kind>resource|module)\s+(?P<symbol>\w+)\s+'(?P<target>[^']+)'(?P<existing>\s+existing)?\s*=\s*"
    r"(?:if\s*\((?P<condition>[^\n]*)\)\s*)?(?P<loop>\[for\s[^\n]*?:\s*)?\{",
    re.MULTILINE,
)


@cache
def source(path: Path) -> str:
    return strip_comments(path.read_text())


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def declarations(path: Path) -> list[dict[str, str]]:
    text = source(path)
    found = []
    for match in DECLARATION.finditer(text):
        start = match.end() - 1
        body = text[start : _skip_braces(text, start)]
        found.append({**match.groupdict(), "body": body, "file": path.name})
    return found


def resources(*, include_existing: bool = False) -> list[dict[str, str]]:
    items = [d for path in bicep_files() for d in declarations(path) if d["kind"] == "resource"]
    return [d for d in items if include_existing or not d["existing"]]


def resource_type(declaration: dict[str, str]) -> str:
    return declaration["target"].split("@")[0]


def module_calls(path: Path = MAIN) -> dict[str, dict[str, str]]:
    return {d["symbol"]: d for d in declarations(path) if d["kind"] == "module"}


def block_after(text: str, pattern: str) -> str:
    """The `{...}` or `[...]` group that follows the first match of pattern."""
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"not found: {pattern}"
    i = match.end()
    while text[i] in " \t\n":
        i += 1
    if text[i] == "{":
        return text[i : _skip_braces(text, i)]
    assert text[i] == "[", f"no block after {pattern}"
    depth, j = 0, i
    while True:
        if text[j] == "'":
            j = _skip_string(text, j)
            continue
        depth += {"[": 1, "]": -1}.get(text[j], 0)
        j += 1
        if depth == 0:
            return text[i:j]


def variable(name: str, path: Path = MAIN) -> str:
    """The right-hand side of `var name = ...` (a block, or the rest of the line)."""
    text = source(path)
    match = re.search(rf"^var {name}\s*=\s*", text, re.MULTILINE)
    assert match, f"var {name} missing in {path.name}"
    if text[match.end()] in "{[":
        return block_after(text, rf"^var {name}\s*=\s*")
    return text[match.end() : text.index("\n", match.end())].strip()


def params(path: Path) -> dict[str, str | None]:
    """Parameter name -> default expression (None when the parameter has no default)."""
    found: dict[str, str | None] = {}
    for match in re.finditer(r"^param (\w+) [\w.]+(?:\s*=\s*(.+))?$", source(path), re.MULTILINE):
        found[match.group(1)] = match.group(2)
    return found


def param_file_values(env: str) -> dict[str, str]:
    text = source(INFRA / "environments" / f"{env}.bicepparam")
    return {
        m.group(1): m.group(2).strip() for m in re.finditer(r"^param (\w+)\s*=\s*(.+)$", text, re.MULTILINE)
    }


def prop(body: str, key: str) -> str:
    """The value expression of `key:` in a block (first occurrence, rest of the line)."""
    match = re.search(rf"^\s*'?{re.escape(key)}'?:\s*(.+)$", body, re.MULTILINE)
    assert match, f"{key} not set"
    return match.group(1).strip()


# ---------------------------------------------------------------------------------------
# Layout and parsing
# ---------------------------------------------------------------------------------------


def test_templates_exist_and_every_file_is_scanned() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert "main.bicep" in names
    assert {n for n in names if n.startswith("modules/")} >= {
        "modules/registry.bicep",
        "modules/monitoring.bicep",
        "modules/environment.bicep",
        "modules/container-app.bicep",
        "modules/postgres.bicep",
        "modules/storage.bicep",
        "modules/keyvault.bicep",
        "modules/identity.bicep",
    }
    for path in bicep_files():
        if path != MAIN:
            assert [d for d in declarations(path) if d["kind"] == "resource"], f"{path.name} declares nothing"
    # Every module main.bicep calls exists.
    for call in module_calls().values():
        assert (INFRA / call["target"]).is_file(), call["target"]


def test_scanner_reads_nested_strings_and_comments() -> None:
    text = strip_comments("var a = '${b}x' // it's a comment\nresource r 'T@1' = {\n  n: '${f('}')}'\n}\n")
    assert "comment" not in text
    (found,) = [m for m in DECLARATION.finditer(text)]
    assert text[found.end() - 1 : _skip_braces(text, found.end() - 1)].endswith("'\n}")


# ---------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "required",
    [
        "Microsoft.ContainerRegistry/registries",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.App/managedEnvironments",
        "Microsoft.App/containerApps",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        "Microsoft.DBforPostgreSQL/flexibleServers/databases",
        "Microsoft.DBforPostgreSQL/flexibleServers/configurations",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices/containers",
        "Microsoft.KeyVault/vaults",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/privateDnsZones",
    ],
)
def test_required_resource_type_is_declared(required: str) -> None:
    assert required in {resource_type(r) for r in resources()}


def test_resource_api_versions_are_pinned() -> None:
    for declaration in resources(include_existing=True):
        assert re.fullmatch(r"[\w.]+/[\w/]+@\d{4}-\d{2}-\d{2}(-preview)?", declaration["target"]), declaration


def test_five_apps_one_per_role() -> None:
    calls = [c for c in module_calls().values() if c["target"] == "modules/container-app.bicep"]
    assert len(calls) == 5
    assert variable("prefix") == "'nexus-${environmentName}'"
    seen = {}
    for call in calls:
        name_var = prop(block_after(call["body"], r"^\s*params:\s*"), "name")
        suffix = re.fullmatch(r"'\$\{prefix\}-(\w+)'", variable(name_var)).group(1)
        args = block_after(call["body"], r"^\s*args:\s*usePlaceholder \? \[\] :\s*")
        seen[suffix] = re.findall(r"'([\w-]+)'", args)
        assert prop(call["body"], "image") == "image"
        assert prop(call["body"], "identityId") == "identity.outputs.id"
    assert seen == {suffix: [role] for suffix, role in ROLES.items()}


def test_image_is_trade_nexus_by_tag_or_the_public_placeholder() -> None:
    assert params(MAIN)["imageTag"] == "''"
    assert variable("usePlaceholder") == "empty(imageTag)"
    assert variable("placeholderImage") == "'mcr.microsoft.com/k8se/quickstart:latest'"
    assert variable("image") == (
        "usePlaceholder ? placeholderImage : '${registry.outputs.loginServer}/trade-nexus:${imageTag}'"
    )


def test_registry_pulls_by_identity_with_admin_user_disabled() -> None:
    (registry,) = [r for r in resources() if resource_type(r) == "Microsoft.ContainerRegistry/registries"]
    assert prop(registry["body"], "adminUserEnabled") == "false"
    assert prop(registry["body"], "anonymousPullEnabled") == "false"
    for path in bicep_files():
        assert not re.search(r"adminUserEnabled:\s*true", source(path))
    app = source(INFRA / "modules" / "container-app.bicep")
    registries = block_after(app, r"^\s*registries:\s*")
    assert "identity: identityId" in registries and "password" not in registries


def test_role_assignments_grant_the_apps_identity_and_the_deploy_principal() -> None:
    assignments = [r for r in resources() if resource_type(r) == "Microsoft.Authorization/roleAssignments"]
    granted = set()
    for role, role_id in ROLE_IDS.items():
        holders = [a for a in assignments if role_id in source(INFRA / "modules" / a["file"])]
        assert holders, role
        granted.add(role)
    push = [a for a in assignments if a["file"] == "registry.bicep" and a["condition"]]
    assert push and "pushPrincipalId" in push[0]["condition"]
    assert prop(module_calls()["registry"]["body"], "pushPrincipalId") == "deployPrincipalId"
    assert params(MAIN)["deployPrincipalId"] == "''"
    assert granted == set(ROLE_IDS)


def test_key_vault_uses_rbac_soft_delete_and_purge_protection_and_holds_no_values() -> None:
    (vault,) = [r for r in resources() if resource_type(r) == "Microsoft.KeyVault/vaults"]
    for key in ("enableRbacAuthorization", "enableSoftDelete", "enablePurgeProtection"):
        assert prop(vault["body"], key) == "true", key
    assert "accessPolicies" not in vault["body"]
    assert not [r for r in resources() if resource_type(r) == "Microsoft.KeyVault/vaults/secrets"]


def test_postgres_has_the_three_databases_tls_and_no_public_endpoint() -> None:
    path = INFRA / "modules" / "postgres.bicep"
    assert re.findall(r"'(\w+)'", variable("databases", path)) == ["dagster", "mlflow", "audit"]
    (dbs,) = [
        r
        for r in declarations(path)
        if resource_type(r) == "Microsoft.DBforPostgreSQL/flexibleServers/databases"
    ]
    assert "in databases" in dbs["loop"]
    settings = variable("settings", path)
    assert prop(settings, "require_secure_transport") == "'on'"
    assert prop(settings, "ssl_min_protocol_version") == "'TLSv1.2'"
    (server,) = [
        r for r in declarations(path) if resource_type(r) == "Microsoft.DBforPostgreSQL/flexibleServers"
    ]
    assert prop(server["body"], "publicNetworkAccess") == "'Disabled'"
    assert prop(server["body"], "delegatedSubnetResourceId") == "delegatedSubnetId"
    assert prop(server["body"], "geoRedundantBackup") == "geoRedundantBackup"


def test_storage_is_private_tls12_entra_only_with_both_containers() -> None:
    path = INFRA / "modules" / "storage.bicep"
    (account,) = [r for r in declarations(path) if resource_type(r) == "Microsoft.Storage/storageAccounts"]
    expected = {
        "minimumTlsVersion": "'TLS1_2'",
        "supportsHttpsTrafficOnly": "true",
        "allowBlobPublicAccess": "false",
        "allowSharedKeyAccess": "false",
        "defaultAction": "'Deny'",
    }
    for key, value in expected.items():
        assert prop(account["body"], key) == value, key
    containers = [r for r in declarations(path) if resource_type(r).endswith("/containers")]
    assert sorted(prop(c["body"], "name") for c in containers) == ["'assets'", "'mlflow'"]
    assert all(prop(c["body"], "publicAccess") == "'None'" for c in containers)


def test_log_analytics_feeds_the_container_apps_environment() -> None:
    env = module_calls()["containerEnvironment"]["body"]
    assert prop(env, "logAnalyticsWorkspaceId") == "monitoring.outputs.id"
    path = INFRA / "modules" / "environment.bicep"
    (environment,) = [
        r for r in declarations(path) if resource_type(r) == "Microsoft.App/managedEnvironments"
    ]
    assert prop(environment["body"], "destination") == "'log-analytics'"
    assert "workspace.listKeys().primarySharedKey" in environment["body"]


# ---------------------------------------------------------------------------------------
# Apps
# ---------------------------------------------------------------------------------------


def test_serving_app_size_port_ingress_scale_and_probes() -> None:
    body = module_calls()["serving"]["body"]
    assert prop(body, "cpu") == "'2'"
    assert prop(body, "memory") == "'4Gi'"
    assert prop(body, "external") == "true"
    assert prop(body, "allowInsecure") == "false"
    assert prop(body, "targetPort") == "usePlaceholder ? 80 : servingPort"
    assert variable("servingPort") == "8000"
    assert prop(body, "minReplicas") == "servingMinReplicas"
    assert prop(body, "maxReplicas") == "servingMaxReplicas"
    assert prop(body, "concurrentRequests") == "string(servingConcurrentRequests)"
    probes = block_after(body, r"^\s*probes:\s*usePlaceholder \? \[\] :\s*")
    found = dict(re.findall(r"type: '(\w+)'\s*httpGet: \{\s*path: '([^']+)'\s*port: servingPort", probes))
    assert found == {"Startup": "/health", "Liveness": "/health", "Readiness": "/ready"}
    # The module hands ingress and probes through unchanged.
    app = source(INFRA / "modules" / "container-app.bicep")
    assert "probes: probes" in app and "cpu: json(cpu)" in app and "memory: memory" in app
    assert "targetPort: targetPort" in app and "allowInsecure: allowInsecure" in app


def test_the_audit_spool_is_on_a_volume_of_the_replica_that_outlives_its_container() -> None:
    body = module_calls()["serving"]["body"]
    volumes = block_after(body, r"^\s*volumes:\s*")
    mounts = block_after(body, r"^\s*volumeMounts:\s*")
    assert re.search(r"name: 'audit-spool'\s*storageType: 'EmptyDir'", volumes)
    assert re.search(r"volumeName: 'audit-spool'\s*mountPath: auditSpoolPath", mounts)
    assert re.search(r"name: 'NEXUS_AUDIT_SPOOL_DIR'\s*value: auditSpoolPath", variable("servingEnv"))
    assert variable("auditSpoolPath").startswith("'/")
    app = source(INFRA / "modules" / "container-app.bicep")
    assert "volumeMounts: volumeMounts" in app and "volumes: volumes" in app


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_serving_scales_between_zero_and_three(env: str) -> None:
    values = param_file_values(env)
    assert 0 <= int(values["servingMinReplicas"]) <= int(values["servingMaxReplicas"]) == 3
    text = source(MAIN)
    assert re.search(r"@minValue\(0\)\s*@maxValue\(3\)\s*param servingMinReplicas int", text)
    assert re.search(r"@maxValue\(3\)\s*param servingMaxReplicas int", text)


def test_dev_scales_serving_to_zero() -> None:
    assert param_file_values("dev")["servingMinReplicas"] == "0"


def test_dagster_apps_ingress_and_replicas() -> None:
    calls = module_calls()
    daemon = calls["daemon"]["body"]
    assert prop(daemon, "ingressEnabled") == "false"
    assert (prop(daemon, "minReplicas"), prop(daemon, "maxReplicas")) == ("1", "1")

    code = calls["codeServer"]["body"]
    assert prop(code, "external") == "false"
    assert prop(code, "transport") == "'tcp'"
    assert prop(code, "exposedPort") == "codeServerPort" and variable("codeServerPort") == "4000"
    assert (prop(code, "minReplicas"), prop(code, "maxReplicas")) == ("1", "1")

    mlflow = calls["mlflow"]["body"]
    assert prop(mlflow, "external") == "false"
    assert variable("mlflowPort") == "5000"
    assert (prop(mlflow, "minReplicas"), prop(mlflow, "maxReplicas")) == ("1", "1")

    web = calls["webserver"]["body"]
    assert variable("webserverPort") == "3000"
    # Public only with Entra ID sign-in in front of it; internal otherwise.
    assert prop(web, "external") == "webserverExternal"
    assert variable("webserverExternal") == "!empty(webserverAuthClientId)"
    auth = calls["webserverAuth"]
    assert "webserverExternal" in auth["condition"]
    auth_module = source(INFRA / auth["target"])
    assert "unauthenticatedClientAction: 'RedirectToLoginPage'" in auth_module


def test_app_environment_matches_what_the_code_reads() -> None:
    common = variable("commonEnv")
    dagster = variable("dagsterEnv")
    names = set(
        re.findall(r"name: '(\w+)'", common + dagster + variable("servingEnv") + variable("mlflowEnv"))
    )
    assert names >= {
        "NEXUS_ENV",
        "AZURE_CLIENT_ID",
        "NEXUS_DATA_DIR",
        "MLFLOW_TRACKING_URI",
        "DAGSTER_HOME",
        "PGSSLMODE",
        "NEXUS_CODE_SERVER_HOST",
        "NEXUS_CODE_SERVER_PORT",
        "MLFLOW_ARTIFACTS_DESTINATION",
    }
    assert "value: 'http://${mlflowAppName}'" in common
    # MLflow 3 refuses unknown Host headers: the name the apps call must be allowed.
    allowed = re.search(
        r"name: 'MLFLOW_SERVER_ALLOWED_HOSTS'\s*value: '([^']+)'", variable("mlflowEnv")
    ).group(1)
    assert "${mlflowAppName}" in allowed.split(",")
    assert re.search(r"value: 'az://\$\{storage\.outputs\.assetsContainer\}/data'", common)
    # Every variable the production Dagster instance reads is set for the Dagster apps.
    instance = (INFRA / "dagster" / "dagster.yaml").read_text()
    wanted = set(re.findall(r"env: (\w+)", instance))
    assert wanted
    provided = set(re.findall(r"name: '(\w+)'", dagster)) | set(
        re.findall(r"(\w+):", variable("dagsterSecrets"))
    )
    assert wanted <= provided


# ---------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------


def _mapping_vars() -> dict[str, str]:
    """main.bicep variables that map environment variables to Key Vault secret names."""
    text = source(MAIN)
    found = {}
    for name in re.findall(r"^var (\w+)\s*=", text, re.MULTILINE):
        rhs = variable(name)
        if re.search(r"^\s*[A-Z][A-Z0-9_]+:", rhs, re.MULTILINE) or rhs.startswith("union("):
            found[name] = rhs
    return found


def _reaches_an_app(var: str, mappings: dict[str, str]) -> bool:
    """Whether a mapping variable ends up (directly or via union) as some app's keyVaultSecrets."""
    apps = [c["body"] for c in module_calls().values() if c["target"] == "modules/container-app.bicep"]
    if any(re.search(rf"^\s*keyVaultSecrets:\s*{var}\s*$", body, re.MULTILINE) for body in apps):
        return True
    users = [name for name, rhs in mappings.items() if name != var and re.search(rf"\b{var}\b", rhs)]
    return any(_reaches_an_app(user, mappings) for user in users)


@pytest.mark.parametrize("secret", DESIGN_SECRETS)
def test_secret_comes_from_key_vault_by_reference(secret: str) -> None:
    mappings = _mapping_vars()
    holders = {}
    for name, rhs in mappings.items():
        match = re.search(rf"^\s*{secret}:\s*(.+)$", rhs, re.MULTILINE)
        if match:
            holders[name] = match.group(1).strip()
    assert holders, f"{secret} is not mapped to a Key Vault secret"
    assert any(_reaches_an_app(name, mappings) for name in holders), f"{secret} reaches no app"
    for value in holders.values():
        literal = re.fullmatch(r"'([a-z0-9-]+)'", value)
        if literal:  # the Key Vault secret name: the variable in kebab case, not a value
            assert literal.group(1) == secret.lower().replace("_", "-")
        else:
            assert re.fullmatch(r"\w+\.\w+", value), value  # reuse of another mapping's entry
    # Never a plain value in any app's environment.
    for path in bicep_files():
        assert not re.search(rf"name: '{secret}'\s*value:", source(path)), path


def test_container_app_resolves_secrets_through_key_vault_urls() -> None:
    app = source(INFRA / "modules" / "container-app.bicep")
    for var in ("envSecrets", "extraSecrets"):
        body = variable(var, INFRA / "modules" / "container-app.bicep")
        assert "keyVaultUrl: '${keyVaultUri}secrets/${secret.value}'" in body
        assert "identity: identityId" in body
        assert "value:" not in body
    assert "secretRef: secret.value" in variable("secretEnv", INFRA / "modules" / "container-app.bicep")
    assert "secrets: concat(envSecrets, extraSecrets)" in app
    for call in module_calls().values():
        if call["target"] == "modules/container-app.bicep":
            assert prop(call["body"], "keyVaultUri") == "keyVault.outputs.uri"


SECRETISH = re.compile(r"(?i)(password|secret|token|api_?key|connection_?string|sharedkey)")
# Names whose literal values are names of secrets, never secret material.
SECRET_NAME_HOLDERS = {"clientSecretSettingName", "webserverAuthSecretName"}


def test_no_template_holds_a_literal_secret() -> None:
    files = [*bicep_files(), *(INFRA / "environments").glob("*.bicepparam")]
    for path in files:
        text = source(path)
        for match in re.finditer(
            r"^\s*(?:param |var )?'?([\w.-]+)'?\s*[:=]\s*'([^'$]*)'\s*$", text, re.MULTILINE
        ):
            key, value = match.groups()
            if not SECRETISH.search(key) or not value or key in SECRET_NAME_HOLDERS:
                continue
            if value in ("Enabled", "Disabled"):
                continue  # a feature switch such as passwordAuth
            if key.endswith("RoleId") and re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value):
                continue  # a built-in role definition id
            if re.fullmatch(r"[A-Z][A-Z0-9_]+", key):  # env var -> Key Vault secret name
                assert value == key.lower().replace("_", "-"), (path, key)
                continue
            assert value in {"microsoft-provider-authentication-secret"}, (path, key, value)
        assert "az.getSecret" not in text or path.suffix == ".bicepparam"
        # Secure parameters never carry a default other than empty.
        for secure in re.finditer(
            r"@secure\(\)\s*(?:@\w+\([^)]*\)\s*)*param (\w+) string(?:\s*=\s*(.+))?", text
        ):
            assert secure.group(2) in (None, "''"), (path, secure.group(1))
    for env in ENVIRONMENTS:
        assert "postgresAdminPassword" not in param_file_values(env)


def test_sensitive_outputs_are_absent() -> None:
    for path in bicep_files():
        for match in re.finditer(r"^output (\w+) \w+ = (.+)$", source(path), re.MULTILINE):
            assert not re.search(r"listKeys|listCredentials|Password", match.group(2)), match.group(0)


# ---------------------------------------------------------------------------------------
# Per-environment parameters and outputs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_parameter_file_uses_main_and_sets_every_required_parameter(env: str) -> None:
    text = source(INFRA / "environments" / f"{env}.bicepparam")
    assert re.search(r"^using '\.\./main\.bicep'\s*$", text, re.MULTILINE)
    declared = params(MAIN)
    values = param_file_values(env)
    required = {name for name, default in declared.items() if default is None}
    assert required <= set(values), required - set(values)
    assert set(values) <= set(declared), set(values) - set(declared)
    assert values["environmentName"] == f"'{env}'"


def test_production_is_redundant_and_dev_is_cheap() -> None:
    prod, dev = param_file_values("prod"), param_file_values("dev")
    assert prod["postgresGeoRedundantBackup"] == "'Enabled'"
    assert prod["postgresHighAvailability"] == "'ZoneRedundant'"
    assert prod["zoneRedundant"] == "true"
    assert dev["postgresGeoRedundantBackup"] == "'Disabled'"
    assert dev["postgresSkuTier"] == "'Burstable'"


def test_outputs_the_deploy_workflow_reads() -> None:
    outputs = set(re.findall(r"^output (\w+) ", source(MAIN), re.MULTILINE))
    assert outputs >= {
        "registryName",
        "registryLoginServer",
        "servingUrl",
        "servingAppName",
        "webserverAppName",
        "daemonAppName",
        "codeServerAppName",
        "mlflowAppName",
    }
    for suffix in ROLES:
        assert re.search(rf"^var \w+AppName = '\$\{{prefix\}}-{suffix}'$", source(MAIN), re.MULTILINE), suffix
