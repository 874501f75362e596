"""IAM: what `clusterawsadm bootstrap iam` makes, with direct IAM calls, and
each cluster's addon roles.

Every role, instance profile and policy is looked up by its name before
anything is made, so a dry run lists exactly what is missing, a second run
changes nothing, and an account clusterawsadm bootstrapped (same names) is
found rather than clashed with. What prepare makes carries the tag
``dokaseca.io/managed-by: dokaseca``; only that is ever changed afterwards
(a drifted policy document, a trust policy, a missing attachment). Anything
else with our names, such as clusterawsadm's CloudFormation stack, is used
as it is.

The account's roles are shared by every cluster in it: they are made once per
process, under a lock, and "already exists" from a racing process counts as
found.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import attrs

from dokaseca.changes import Changes
from dokaseca.errors import ProviderError
from dokaseca.models import ClusterSpec
from dokaseca.once import Once

from dokaseca_aws import iam_policies as docs
from dokaseca_aws.config import AwsConfig
from dokaseca_aws.session import Aws, absent, exists_ok
from dokaseca_aws.tags import OWNER, OWNER_KEY, key_values
from dokaseca_aws.tags import ours as _ours

DESCRIPTION = "Made by dokaseca prepare for Cluster API Provider AWS"
MAX_POLICY_VERSIONS = 5  # AWS's limit per customer-managed policy
MAX_ROLE_NAME = 64
NO_SUCH = ("NoSuchEntity",)

_account_roles = Once()
_eks_roles = Once()


@attrs.frozen(kw_only=True)
class Role:
    name: str
    trust: dict[str, Any]
    policy_arns: tuple[str, ...]
    instance_profile: bool = False


def bootstrap(aws: Aws, cluster: ClusterSpec, changes: Changes) -> dict[str, str]:
    """The ARNs of the roles CAPA uses (``control_plane``, ``nodes``, ``controllers``,
    and for EKS ``eks_control_plane``, ``eks_nodegroup``), made if missing."""
    config: AwsConfig = cluster.provider_config
    if not config.bootstrap_iam:
        return _existing_instance_profile_roles(aws, cluster)
    key = (aws.account_id, config.control_plane_instance_profile, config.nodes_instance_profile)
    arns = dict(changes.once(_account_roles, key, lambda mine: _Iam(aws, mine).capa_roles(config)))
    if cluster.flavor == "eks":
        arns.update(changes.once(_eks_roles, key, lambda mine: _Iam(aws, mine).eks_roles(config)))
    return arns


def addon_roles(aws: Aws, cluster: ClusterSpec, nodes_role_arn: str, changes: Changes) -> dict[str, dict[str, str]]:
    """One role per ``aws.addonRoles`` entry, ``<cluster>-<addon>``: trusted by EKS Pod
    Identity for the eks flavor, else by the nodes role (an addon's pods assume it
    from the node's credentials)."""
    config: AwsConfig = cluster.provider_config
    if not config.addon_roles:
        return {}
    if cluster.flavor == "eks":
        trust = docs.trusted_by_pod_identity()
    else:
        trust = docs.trusted_by_principal_arn(aws.iam_arn("root"), nodes_role_arn)
    iam = _Iam(aws, changes)
    found = {}
    for addon, wanted in sorted(config.addon_roles.items()):
        name = addon_role_name(cluster.name, addon)
        role = Role(name=name, trust=trust, policy_arns=wanted.policy_arns)
        found[addon] = {
            "arn": iam.addon_role(role, cluster),
            "namespace": wanted.namespace,
            "service_account": wanted.service_account or addon.replace("_", "-"),
        }
    return found


def addon_role_name(cluster: str, addon: str) -> str:
    """``<cluster>-<addon>``; past IAM's 64 characters, cut and made unique with a digest."""
    name = f"{cluster}-{addon}"
    if len(name) <= MAX_ROLE_NAME:
        return name
    return f"{name[: MAX_ROLE_NAME - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _existing_instance_profile_roles(aws: Aws, cluster: ClusterSpec) -> dict[str, str]:
    """With ``bootstrapIAM: false``: the instance profiles must exist; report their roles."""
    config: AwsConfig = cluster.provider_config
    iam = aws.client("iam")
    arns = {}
    for key, field, name in (
        ("control_plane", "aws.controlPlaneInstanceProfile", config.control_plane_instance_profile),
        ("nodes", "aws.nodesInstanceProfile", config.nodes_instance_profile),
    ):
        found = absent(iam.get_instance_profile, NO_SUCH, InstanceProfileName=name)
        roles = found["InstanceProfile"]["Roles"] if found else []
        if not roles:
            what = "has no role" if found else "does not exist"
            raise ProviderError(
                f"cluster {cluster.name}: IAM instance profile {name!r} ({field}) {what} in account {aws.account_id}; "
                f"with aws.bootstrapIAM: false prepare only checks it. Set {field} to an instance profile that has a role, "
                "create it (`clusterawsadm bootstrap iam create-cloudformation-stack`), or set aws.bootstrapIAM: true"
            )
        arns[key] = roles[0]["Arn"]
    return arns


def _tags(extra: Optional[dict[str, str]] = None) -> list[dict[str, str]]:
    return key_values({OWNER_KEY: OWNER, **(extra or {})})


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class _Iam:
    def __init__(self, aws: Aws, changes: Changes) -> None:
        self.aws = aws
        self.iam = aws.client("iam")
        self.changes = changes

    def capa_roles(self, config: AwsConfig) -> dict[str, str]:
        control_plane = self.policy(docs.CONTROL_PLANE_POLICY, docs.control_plane())
        nodes = self.policy(docs.NODES_POLICY, docs.nodes())
        controllers = self.policy(docs.CONTROLLERS_POLICY, docs.controllers())
        ec2 = docs.trusted_by_service("ec2.amazonaws.com")
        return {
            # The control plane also gets the controllers' policy, so a management
            # cluster moved onto it (clusterctl move) can run CAPA there.
            "control_plane": self.role(
                Role(name=config.control_plane_instance_profile, trust=ec2, policy_arns=(control_plane, controllers), instance_profile=True)
            ),
            "nodes": self.role(Role(name=config.nodes_instance_profile, trust=ec2, policy_arns=(nodes,), instance_profile=True)),
            "controllers": self.role(Role(name=docs.CONTROLLERS_ROLE, trust=ec2, policy_arns=(controllers,), instance_profile=True)),
        }

    def eks_roles(self, config: AwsConfig) -> dict[str, str]:
        """Runs after :meth:`capa_roles`: adds the EKS policy to the controllers' roles."""
        eks = self.policy(docs.CONTROLLERS_EKS_POLICY, docs.controllers_eks())
        for name in (docs.CONTROLLERS_ROLE, config.control_plane_instance_profile):
            self._attach_also(name, eks)
        ec2 = docs.trusted_by_service("ec2.amazonaws.com")
        managed = self.aws.managed_policy_arn
        return {
            "eks_control_plane": self.role(
                Role(
                    name=docs.EKS_CONTROL_PLANE_ROLE,
                    trust=docs.trusted_by_service("eks.amazonaws.com"),
                    policy_arns=tuple(map(managed, docs.EKS_CONTROL_PLANE_MANAGED)),
                )
            ),
            "eks_nodegroup": self.role(
                Role(name=docs.EKS_NODEGROUP_ROLE, trust=ec2, policy_arns=tuple(map(managed, docs.EKS_NODEGROUP_MANAGED)))
            ),
        }

    def policy(self, name: str, wanted: dict[str, Any]) -> str:
        """A customer-managed policy; ours gets a new default version when its document drifted."""
        arn = self.aws.iam_arn(f"policy/{name}")
        found = absent(self.iam.get_policy, NO_SUCH, PolicyArn=arn)
        text = json.dumps(wanted, separators=(",", ":"))
        if found is None:
            self.changes.make(
                f"create IAM policy {name}",
                exists_ok(self.iam.create_policy),
                PolicyName=name,
                PolicyDocument=text,
                Description=DESCRIPTION,
                Tags=_tags(),
            )
            return arn
        policy = found["Policy"]
        if not _ours(policy):
            return arn
        current = self.iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
        if current == wanted:
            return arn
        versions = self.iam.list_policy_versions(PolicyArn=arn)["Versions"]
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            self.changes.make(
                f"delete IAM policy {name} version {oldest['VersionId']} (AWS keeps {MAX_POLICY_VERSIONS})",
                self.iam.delete_policy_version,
                PolicyArn=arn,
                VersionId=oldest["VersionId"],
            )
        self.changes.make(
            f"update IAM policy {name} (new default version)",
            self.iam.create_policy_version,
            PolicyArn=arn,
            PolicyDocument=text,
            SetAsDefault=True,
        )
        return arn

    def role(self, role: Role) -> str:
        return self._converge(role, absent(self.iam.get_role, NO_SUCH, RoleName=role.name))

    def addon_role(self, role: Role, cluster: ClusterSpec) -> str:
        """Like :meth:`role`, but its policy list is the whole truth: others are detached."""
        found = absent(self.iam.get_role, NO_SUCH, RoleName=role.name)
        if found is not None and not _ours(found["Role"]):
            raise ProviderError(
                f"cluster {cluster.name}: IAM role {role.name!r} exists but was not made by dokaseca "
                f"(no {OWNER_KEY} tag); prepare will not take it over. Rename the addon in aws.addonRoles or delete the role"
            )
        return self._converge(role, found, tags={"dokaseca.io/fleet": cluster.fleet, "dokaseca.io/cluster": cluster.name}, exclusive=True)

    def _converge(self, role: Role, found: Optional[dict[str, Any]], tags: Optional[dict[str, str]] = None, exclusive: bool = False) -> str:
        """The role's ARN; made, or if ours brought in line (trust, attachments), when needed."""
        arn = found["Role"]["Arn"] if found else self.aws.iam_arn(f"role/{role.name}")
        if found is None:
            self.changes.make(
                f"create IAM role {role.name}",
                exists_ok(self.iam.create_role),
                RoleName=role.name,
                AssumeRolePolicyDocument=json.dumps(role.trust),
                Description=DESCRIPTION,
                Tags=_tags(tags),
            )
            self._attach(role.name, role.policy_arns, attached=set())
        elif _ours(found["Role"]):
            if found["Role"]["AssumeRolePolicyDocument"] != role.trust:
                self.changes.make(
                    f"update the trust policy of IAM role {role.name}",
                    self.iam.update_assume_role_policy,
                    RoleName=role.name,
                    PolicyDocument=json.dumps(role.trust),
                )
            attached = self._attached(role.name)
            self._attach(role.name, role.policy_arns, attached)
            for extra in sorted(attached - set(role.policy_arns)) if exclusive else ():
                self.changes.make(
                    f"detach IAM policy {_short(extra)} from role {role.name}",
                    self.iam.detach_role_policy,
                    RoleName=role.name,
                    PolicyArn=extra,
                )
        if role.instance_profile:
            self._instance_profile(role.name)
        return arn

    def _attached(self, role_name: str) -> set[str]:
        pages = self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
        return {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}

    def _attach(self, role_name: str, policy_arns: tuple[str, ...], attached: set[str]) -> None:
        for policy_arn in policy_arns:
            if policy_arn not in attached:
                self.changes.make(
                    f"attach IAM policy {_short(policy_arn)} to role {role_name}",
                    self.iam.attach_role_policy,
                    RoleName=role_name,
                    PolicyArn=policy_arn,
                )

    def _attach_also(self, role_name: str, policy_arn: str) -> None:
        """One more policy for a role :meth:`capa_roles` made (in a dry run: would
        have made) or found ours; its trust and instance profile are settled there."""
        found = absent(self.iam.get_role, NO_SUCH, RoleName=role_name)
        if found is not None and not _ours(found["Role"]):
            return
        self._attach(role_name, (policy_arn,), self._attached(role_name) if found else set())

    def _instance_profile(self, name: str) -> None:
        """An instance profile named like its role, holding it (one role per profile)."""
        found = absent(self.iam.get_instance_profile, NO_SUCH, InstanceProfileName=name)
        if found is None:
            self.changes.make(
                f"create IAM instance profile {name}", exists_ok(self.iam.create_instance_profile), InstanceProfileName=name, Tags=_tags()
            )
        elif found["InstanceProfile"]["Roles"]:
            return
        # LimitExceeded: a racing process already put the role in.
        self.changes.make(
            f"add IAM role {name} to instance profile {name}",
            exists_ok(self.iam.add_role_to_instance_profile, ("EntityAlreadyExists", "LimitExceeded")),
            InstanceProfileName=name,
            RoleName=name,
        )
