"""The IAM documents prepare writes: trust policies and the permissions of
CAPA's controllers, control plane and nodes.

Our own, kept to what each party does: the CAPA controllers build a cluster's
EC2 and load-balancer resources (and EKS's, for the eks flavor); the
control plane runs the AWS cloud provider (load balancers, routes, volumes);
nodes read their bootstrap data and pull images. Resources are narrowed
where AWS allows it: roles the controllers may pass, the Secrets Manager
prefix CAPA uses for bootstrap data, the public SSM parameters of EKS images.
Documents are compared as data, so their order here is their order in AWS.
"""

from __future__ import annotations

from typing import Any

VERSION = "2012-10-17"

# The names `clusterawsadm bootstrap iam` gives its policies and roles, so an
# account it bootstrapped is recognised instead of duplicated.
SUFFIX = ".cluster-api-provider-aws.sigs.k8s.io"
CONTROL_PLANE_POLICY = "control-plane" + SUFFIX
NODES_POLICY = "nodes" + SUFFIX
CONTROLLERS_POLICY = "controllers" + SUFFIX
CONTROLLERS_EKS_POLICY = "controllers-eks" + SUFFIX
CONTROLLERS_ROLE = "controllers" + SUFFIX
EKS_CONTROL_PLANE_ROLE = "eks-controlplane" + SUFFIX
EKS_NODEGROUP_ROLE = "eks-nodegroup" + SUFFIX

EKS_CONTROL_PLANE_MANAGED = ("AmazonEKSClusterPolicy",)
EKS_NODEGROUP_MANAGED = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")

# CAPA stores each machine's bootstrap data under this Secrets Manager prefix.
_BOOTSTRAP_SECRETS = "arn:*:secretsmanager:*:*:secret:aws.cluster.x-k8s.io/*"


def _allow(actions: list[str], resource: Any = "*", condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def trusted_by_service(service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> dict[str, Any]:
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)})


def trusted_by_principal_arn(account_root_arn: str, principal_arn: str) -> dict[str, Any]:
    """The account, narrowed to one role by a condition. Unlike naming the role
    as principal, this does not need the role to be visible yet (IAM is
    eventually consistent right after the nodes role is made) and keeps working
    when the role is re-created."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": account_root_arn},
            "Action": ["sts:AssumeRole"],
            "Condition": {"ArnEquals": {"aws:PrincipalArn": principal_arn}},
        }
    )


def trusted_by_pod_identity() -> dict[str, Any]:
    """EKS Pod Identity assumes the role and tags the session with the pod's identity."""
    return trusted_by_service("pods.eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession"))


def nodes() -> dict[str, Any]:
    return document(
        # The kubelet's cloud provider learns the node's own instance and zone.
        _allow(["ec2:DescribeInstances", "ec2:DescribeRegions", "ec2:DescribeAvailabilityZones"]),
        # Pull images from ECR.
        _allow(
            [
                "ecr:GetAuthorizationToken",
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ]
        ),
        # Read, then delete, the machine's bootstrap data.
        _allow(["secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"], _BOOTSTRAP_SECRETS),
        # Session Manager access instead of SSH through a bastion.
        _allow(
            [
                "ssm:UpdateInstanceInformation",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ]
        ),
    )


def control_plane() -> dict[str, Any]:
    """What the AWS cloud provider on control-plane nodes does: Service load balancers, routes, volumes."""
    return document(
        _allow(
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeTags",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInstances",
                "ec2:DescribeRegions",
                "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVolumes",
                "ec2:DescribeVpcs",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeLoadBalancerPolicies",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "kms:DescribeKey",
            ]
        ),
        _allow(
            [
                "ec2:AttachVolume",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateRoute",
                "ec2:CreateSecurityGroup",
                "ec2:CreateTags",
                "ec2:CreateVolume",
                "ec2:DeleteRoute",
                "ec2:DeleteSecurityGroup",
                "ec2:DeleteVolume",
                "ec2:DetachVolume",
                "ec2:ModifyInstanceAttribute",
                "ec2:ModifyVolume",
                "ec2:RevokeSecurityGroupIngress",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
                "elasticloadbalancing:AttachLoadBalancerToSubnets",
                "elasticloadbalancing:ConfigureHealthCheck",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:CreateLoadBalancerListeners",
                "elasticloadbalancing:CreateLoadBalancerPolicy",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancerListeners",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:DetachLoadBalancerFromSubnets",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer",
                "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
            ]
        ),
        _allow(
            ["iam:CreateServiceLinkedRole"],
            condition={"StringLike": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
    )


def controllers() -> dict[str, Any]:
    """CAPA's controllers for self-managed (kubeadm) clusters."""
    return document(
        _allow(
            [
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeInstanceRefreshes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeImages",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeInstances",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeNatGateways",
                "ec2:DescribeNetworkInterfaceAttribute",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeRouteTables",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVolumes",
                "ec2:DescribeVpcAttribute",
                "ec2:DescribeVpcs",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
            ]
        ),
        # A cluster's own security groups, instances, load balancer and, when
        # CAPA manages the network itself, its VPC pieces.
        _allow(
            [
                "autoscaling:CreateAutoScalingGroup",
                "autoscaling:CreateOrUpdateTags",
                "autoscaling:DeleteAutoScalingGroup",
                "autoscaling:DeleteTags",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:UpdateAutoScalingGroup",
                "ec2:AllocateAddress",
                "ec2:AssociateAddress",
                "ec2:AssociateRouteTable",
                "ec2:AttachInternetGateway",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:CreateInternetGateway",
                "ec2:CreateLaunchTemplate",
                "ec2:CreateLaunchTemplateVersion",
                "ec2:CreateNatGateway",
                "ec2:CreateNetworkInterface",
                "ec2:CreateRoute",
                "ec2:CreateRouteTable",
                "ec2:CreateSecurityGroup",
                "ec2:CreateSubnet",
                "ec2:CreateTags",
                "ec2:CreateVpc",
                "ec2:DeleteInternetGateway",
                "ec2:DeleteLaunchTemplate",
                "ec2:DeleteLaunchTemplateVersions",
                "ec2:DeleteNatGateway",
                "ec2:DeleteRouteTable",
                "ec2:DeleteSecurityGroup",
                "ec2:DeleteSubnet",
                "ec2:DeleteTags",
                "ec2:DeleteVpc",
                "ec2:DetachInternetGateway",
                "ec2:DisassociateAddress",
                "ec2:DisassociateRouteTable",
                "ec2:ModifyInstanceAttribute",
                "ec2:ModifyNetworkInterfaceAttribute",
                "ec2:ModifySubnetAttribute",
                "ec2:ModifyVpcAttribute",
                "ec2:ReleaseAddress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RunInstances",
                "ec2:TerminateInstances",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
                "elasticloadbalancing:ConfigureHealthCheck",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeregisterInstancesFromLoadBalancer",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:SetSubnets",
            ]
        ),
        # Only the roles named like clusterawsadm's, and only to EC2 and EKS.
        _allow(
            ["iam:PassRole"],
            "arn:*:iam::*:role/*" + SUFFIX,
            condition={"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "eks.amazonaws.com"]}},
        ),
        _allow(
            ["iam:CreateServiceLinkedRole"],
            condition={
                "StringLike": {
                    "iam:AWSServiceName": [
                        "autoscaling.amazonaws.com",
                        "elasticloadbalancing.amazonaws.com",
                        "spot.amazonaws.com",
                    ]
                }
            },
        ),
        _allow(["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:TagResource"], _BOOTSTRAP_SECRETS),
        # CAPA's AMI lookup for EKS-optimised images reads public SSM parameters.
        _allow(["ssm:GetParameter"], "arn:*:ssm:*:*:parameter/aws/service/eks/optimized-ami/*"),
    )


def controllers_eks() -> dict[str, Any]:
    """What CAPA's controllers need on top of :func:`controllers` for the eks flavor."""
    return document(
        _allow(
            [
                "eks:AssociateEncryptionConfig",
                "eks:AssociateIdentityProviderConfig",
                "eks:CreateAccessEntry",
                "eks:CreateAddon",
                "eks:CreateCluster",
                "eks:CreateNodegroup",
                "eks:CreatePodIdentityAssociation",
                "eks:DeleteAccessEntry",
                "eks:DeleteAddon",
                "eks:DeleteCluster",
                "eks:DeleteNodegroup",
                "eks:DeletePodIdentityAssociation",
                "eks:DescribeAccessEntry",
                "eks:DescribeAddon",
                "eks:DescribeAddonVersions",
                "eks:DescribeCluster",
                "eks:DescribeIdentityProviderConfig",
                "eks:DescribeNodegroup",
                "eks:DescribePodIdentityAssociation",
                "eks:DescribeUpdate",
                "eks:DisassociateIdentityProviderConfig",
                "eks:ListAccessEntries",
                "eks:ListAddons",
                "eks:ListClusters",
                "eks:ListIdentityProviderConfigs",
                "eks:ListNodegroups",
                "eks:ListPodIdentityAssociations",
                "eks:TagResource",
                "eks:UntagResource",
                "eks:UpdateAccessEntry",
                "eks:UpdateAddon",
                "eks:UpdateClusterConfig",
                "eks:UpdateClusterVersion",
                "eks:UpdateNodegroupConfig",
                "eks:UpdateNodegroupVersion",
                "eks:UpdatePodIdentityAssociation",
            ]
        ),
        # CAPA checks the roles it is given and, for IRSA, manages the cluster's OIDC provider.
        _allow(
            [
                "iam:CreateOpenIDConnectProvider",
                "iam:DeleteOpenIDConnectProvider",
                "iam:GetOpenIDConnectProvider",
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:TagOpenIDConnectProvider",
            ]
        ),
        # Secrets encryption with a customer key.
        _allow(
            ["kms:CreateGrant", "kms:DescribeKey"],
            condition={"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/cluster-api-provider-aws-*"}},
        ),
    )
