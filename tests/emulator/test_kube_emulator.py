"""The Kubernetes API emulator (tests/support/kube_emulator.py), driven by the real kubernetes client."""
import json
import re
import stat

import kubernetes
import pytest
import urllib3
import yaml
from kube_emulator import VERSION_INFO, KubeEmulator, default_discovery_cache_path
from kubernetes import watch
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

CAPI = 'cluster.x-k8s.io/v1beta2'


@pytest.fixture
def api(kube_emulator):
    return kube_emulator.api_client()  # closed when the emulator stops


@pytest.fixture
def dyn(api):
    return DynamicClient(api)


@pytest.fixture
def core(api):
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture
def ns(core):
    core.create_namespace({'metadata': {'name': 'capi-system'}})
    return 'capi-system'


@pytest.fixture
def cms(dyn):
    return dyn.resources.get(api_version='v1', kind='ConfigMap')


def status_of(exc_info):
    """The Status object of an ApiException (DynamicApiError is one too)."""
    return json.loads(exc_info.value.body)


def configmap(name, ns, data=None, labels=None, **meta):
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': name, 'namespace': ns, **meta,
            **({'labels': labels} if labels is not None else {})}, **({'data': data} if data is not None else {})}


def test_kubeconfig_is_private_and_targets_the_emulator(kube_emulator):
    mode = stat.S_IMODE(kube_emulator.kubeconfig_path.stat().st_mode)
    config = yaml.safe_load(kube_emulator.kubeconfig_path.read_text())

    assert mode == 0o600
    assert kube_emulator.url.startswith('http://127.0.0.1:')
    assert config['current-context'] == kube_emulator.context == 'emulator'
    assert config['clusters'][0]['cluster']['server'] == kube_emulator.url
    assert config['users'][0]['user']['token'] == kube_emulator.token


def test_discovery_of_crd_and_builtin_kinds(dyn):
    cluster = dyn.resources.get(api_version=CAPI, kind='Cluster')
    old_cluster = dyn.resources.get(api_version='cluster.x-k8s.io/v1beta1', kind='Cluster')
    identity = dyn.resources.get(api_version='infrastructure.cluster.x-k8s.io/v1beta2', kind='AWSClusterStaticIdentity')
    group = dyn.request('get', '/apis/cluster.x-k8s.io').to_dict()

    assert (cluster.name, cluster.namespaced, cluster.kind) == ('clusters', True, 'Cluster')
    assert 'status' in cluster.subresources
    assert old_cluster.group_version == 'cluster.x-k8s.io/v1beta1'
    assert identity.namespaced is False
    assert group['preferredVersion'] == {'groupVersion': CAPI, 'version': 'v1beta2'}
    expected = {
        ('v1', 'Namespace'): ('namespaces', False), ('v1', 'Secret'): ('secrets', True),
        ('v1', 'ConfigMap'): ('configmaps', True), ('v1', 'ServiceAccount'): ('serviceaccounts', True),
        ('v1', 'Service'): ('services', True), ('v1', 'Pod'): ('pods', True),
        ('apps/v1', 'Deployment'): ('deployments', True), ('apps/v1', 'StatefulSet'): ('statefulsets', True),
        ('apps/v1', 'DaemonSet'): ('daemonsets', True),
        ('rbac.authorization.k8s.io/v1', 'ClusterRole'): ('clusterroles', False),
        ('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'): ('clusterrolebindings', False),
        ('rbac.authorization.k8s.io/v1', 'Role'): ('roles', True),
        ('rbac.authorization.k8s.io/v1', 'RoleBinding'): ('rolebindings', True),
        ('apiextensions.k8s.io/v1', 'CustomResourceDefinition'): ('customresourcedefinitions', False),
    }
    for (api_version, kind), (plural, namespaced) in expected.items():
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        assert (resource.name, resource.namespaced) == (plural, namespaced), kind
        assert {'create', 'get', 'list', 'watch', 'patch', 'update', 'delete'} <= set(resource.verbs), kind


def test_namespaces_are_cluster_scoped_and_hold_objects(kube_emulator, core, dyn):
    created = core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name='capi-system')))
    fetched = core.read_namespace('capi-system')
    cm = core.create_namespaced_config_map('capi-system', {'metadata': {'name': 'settings'}, 'data': {'a': '1'}})
    role = dyn.resources.get(api_version='rbac.authorization.k8s.io/v1', kind='ClusterRole').create(
        body={'metadata': {'name': 'capi:reader'}, 'rules': []})

    assert created.status.phase == 'Active'
    assert fetched.metadata.uid == created.metadata.uid
    assert {'default', 'kube-system', 'capi-system'} <= {n.metadata.name for n in core.list_namespace().items}
    assert cm.metadata.namespace == 'capi-system'
    assert cm.metadata.uid and cm.metadata.creation_timestamp and cm.metadata.generation == 1
    assert int(cm.metadata.resource_version) > int(created.metadata.resource_version)
    assert role.metadata.get('namespace') is None
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'settings', 'capi-system')['data'] == {'a': '1'}
    assert kube_emulator.objects.get('rbac.authorization.k8s.io/v1', 'ClusterRole', 'capi:reader') is not None


def test_missing_namespace_duplicates_and_missing_objects_are_api_errors(core, ns):
    core.create_namespaced_config_map(ns, {'metadata': {'name': 'once'}})

    with pytest.raises(ApiException) as missing_ns:
        core.create_namespaced_config_map('nope', {'metadata': {'name': 'x'}})
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map(ns, {'metadata': {'name': 'once'}})
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map('missing', ns)

    assert missing_ns.value.status == 404
    assert status_of(missing_ns) | {'details': None} == {
        'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
        'message': 'namespaces "nope" not found', 'reason': 'NotFound', 'code': 404, 'details': None}
    assert (duplicate.value.status, status_of(duplicate)['reason']) == (409, 'AlreadyExists')
    assert status_of(duplicate)['message'] == 'configmaps "once" already exists'
    assert (missing.value.status, status_of(missing)['message']) == (404, 'configmaps "missing" not found')


def test_names_and_labels_are_validated(core, ns):
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map(ns, {'metadata': {'name': 'Not_Valid'}})
    with pytest.raises(ApiException) as bad_label:
        core.create_namespaced_config_map(ns, {'metadata': {'name': 'ok', 'labels': {'app': 'not valid!'}}})

    assert (bad_name.value.status, status_of(bad_name)['reason']) == (422, 'Invalid')
    assert status_of(bad_name)['details']['causes'][0]['field'] == 'metadata.name'
    assert (bad_label.value.status, status_of(bad_label)['reason']) == (422, 'Invalid')


def test_label_and_field_selectors(kube_emulator, cms, ns):
    cms.create(body=configmap('a', ns, labels={'app': 'web', 'tier': 'front'}))
    cms.create(body=configmap('b', ns, labels={'app': 'web', 'tier': 'back', 'canary': 'true'}))
    cms.create(body=configmap('c', ns, labels={'app': 'db'}))

    def names(**selectors):
        return sorted(item.metadata.name for item in cms.get(namespace=ns, **selectors).items)

    assert names(label_selector='app=web') == ['a', 'b']
    assert names(label_selector='app!=web') == ['c']
    assert names(label_selector='tier in (front, back)') == ['a', 'b']
    assert names(label_selector='tier notin (front)') == ['b', 'c']
    assert names(label_selector='canary') == ['b']
    assert names(label_selector='!canary') == ['a', 'c']
    assert names(label_selector='app==web,tier=back') == ['b']
    assert names(field_selector='metadata.name=c') == ['c']
    assert names(field_selector='metadata.name!=c', label_selector='app') == ['a', 'b']
    assert [o['metadata']['name'] for o in kube_emulator.objects.list('v1', 'ConfigMap', ns, 'tier')] == ['a', 'b']
    with pytest.raises(ApiException) as bad:
        cms.get(namespace=ns, label_selector='app in web')
    assert bad.value.status == 400


def test_put_bumps_resource_version_and_rejects_a_stale_one(cms, ns):
    created = cms.create(body=configmap('cm', ns, data={'k': 'v1'})).to_dict()
    current = cms.get(name='cm', namespace=ns).to_dict()
    current['data'] = {'k': 'v2'}
    replaced = cms.replace(body=current).to_dict()
    stale = dict(created, data={'k': 'stale'})

    with pytest.raises(ApiException) as conflict:
        cms.replace(body=stale)

    assert int(replaced['metadata']['resourceVersion']) > int(created['metadata']['resourceVersion'])
    assert replaced['metadata']['generation'] == 2
    assert (conflict.value.status, status_of(conflict)['reason']) == (409, 'Conflict')
    assert 'the object has been modified' in status_of(conflict)['message']
    assert cms.get(name='cm', namespace=ns).data.k == 'v2'


def test_merge_and_json_patches(cms, ns):
    created = cms.create(body=configmap('cm', ns, data={'a': '1', 'b': '2'})).to_dict()
    labelled = cms.patch(name='cm', namespace=ns, body={'metadata': {'labels': {'x': 'y'}}},
                         content_type='application/merge-patch+json').to_dict()
    patched = cms.patch(name='cm', namespace=ns, content_type='application/json-patch+json',
                        body=[{'op': 'remove', 'path': '/data/b'}, {'op': 'add', 'path': '/data/c', 'value': '3'}]).to_dict()

    assert labelled['metadata']['labels'] == {'x': 'y'}
    assert labelled['metadata']['generation'] == created['metadata']['generation']  # metadata only
    assert labelled['metadata']['resourceVersion'] != created['metadata']['resourceVersion']
    assert patched['data'] == {'a': '1', 'c': '3'}
    assert patched['metadata']['generation'] == created['metadata']['generation'] + 1


def test_server_side_apply_creates_and_an_identical_apply_changes_nothing(kube_emulator, dyn, cms, ns):
    doc = configmap('applied', ns, data={'k': 'v'}, labels={'app': 'capi'})

    first = dyn.server_side_apply(cms, body=doc, field_manager='dokaseca').to_dict()
    second = dyn.server_side_apply(cms, body=doc, field_manager='dokaseca').to_dict()

    applies = kube_emulator.requests.filter('PATCH', '/configmaps/applied', content_type='application/apply-patch+yaml')
    assert [r.status for r in applies] == [201, 200]
    assert second['metadata']['resourceVersion'] == first['metadata']['resourceVersion']
    assert second['metadata']['generation'] == first['metadata']['generation'] == 1
    assert len(kube_emulator.objects.history('v1', 'ConfigMap', 'applied', ns)) == 1
    assert [(m['manager'], m['operation']) for m in second['metadata']['managedFields']] == [('dokaseca', 'Apply')]
    assert second['metadata']['managedFields'][0]['fieldsV1'] == {
        'f:data': {'f:k': {}}, 'f:metadata': {'f:labels': {'f:app': {}}}}


def test_server_side_apply_of_a_custom_resource_ignores_status(kube_emulator, dyn, ns):
    clusters = dyn.resources.get(api_version=CAPI, kind='Cluster')
    doc = {'apiVersion': CAPI, 'kind': 'Cluster', 'metadata': {'name': 'c1', 'namespace': ns},
           'spec': {'paused': True}, 'status': {'phase': 'Faked'}}

    applied = dyn.server_side_apply(clusters, body=doc, field_manager='dokaseca').to_dict()
    with pytest.raises(ApiException) as no_manager:
        dyn.server_side_apply(clusters, body=doc)
    with pytest.raises(ApiException) as strategic:
        clusters.patch(name='c1', namespace=ns, body={'spec': {'paused': False}})  # the client's default: SMP

    assert applied['spec'] == {'paused': True}
    assert 'status' not in applied
    assert (no_manager.value.status, status_of(no_manager)['reason']) == (422, 'Invalid')
    assert strategic.value.status == 415
    assert kube_emulator.objects.get(CAPI, 'Cluster', 'c1', ns)['spec'] == {'paused': True}


def test_server_side_apply_conflicts_between_managers_unless_forced(dyn, cms, ns):
    dyn.server_side_apply(cms, body=configmap('cm', ns, data={'size': '1', 'color': 'red'}), field_manager='alice')
    dyn.server_side_apply(cms, body=configmap('cm', ns, data={'color': 'red'}), field_manager='bob')  # same value: shared

    with pytest.raises(ApiException) as conflict:
        dyn.server_side_apply(cms, body=configmap('cm', ns, data={'size': '2'}), field_manager='bob')
    unchanged = cms.get(name='cm', namespace=ns).to_dict()
    forced = dyn.server_side_apply(cms, body=configmap('cm', ns, data={'size': '2'}), field_manager='bob',
                                   force_conflicts=True).to_dict()
    with pytest.raises(ApiException) as back:
        dyn.server_side_apply(cms, body=configmap('cm', ns, data={'size': '1', 'color': 'red'}), field_manager='alice')

    assert (conflict.value.status, status_of(conflict)['reason']) == (409, 'Conflict')
    assert status_of(conflict)['message'] == 'Apply failed with 1 conflict: conflict with "alice": .data.size'
    assert unchanged['data'] == {'size': '1', 'color': 'red'}
    assert forced['data'] == {'size': '2', 'color': 'red'}
    owners = {m['manager']: m['fieldsV1'] for m in forced['metadata']['managedFields']}
    assert owners == {'alice': {'f:data': {'f:color': {}}}, 'bob': {'f:data': {'f:size': {}}}}  # bob's last apply
    assert 'conflict with "bob": .data.size' in status_of(back)['message']


def test_server_side_apply_removes_fields_the_manager_no_longer_applies(dyn, cms, ns):
    dyn.server_side_apply(cms, field_manager='alice',
                          body=configmap('cm', ns, data={'k1': 'a', 'k2': 'b'}, labels={'keep': 'x', 'drop': 'y'}))
    dyn.server_side_apply(cms, body=configmap('cm', ns, data={'k3': 'c'}), field_manager='bob')

    trimmed = dyn.server_side_apply(cms, field_manager='alice',
                                    body=configmap('cm', ns, data={'k1': 'a'}, labels={'keep': 'x'})).to_dict()
    bare = dyn.server_side_apply(cms, body=configmap('cm', ns, data={'k1': 'a'}), field_manager='alice').to_dict()

    assert trimmed['metadata']['labels'] == {'keep': 'x'}
    assert trimmed['data'] == {'k1': 'a', 'k3': 'c'}  # k3 belongs to bob
    assert 'labels' not in bare['metadata']


def test_watch_sees_added_then_modified_after_set_status(kube_emulator, dyn, ns):
    clusters = dyn.resources.get(api_version=CAPI, kind='Cluster')
    created = clusters.create(body={'apiVersion': CAPI, 'kind': 'Cluster', 'metadata': {'name': 'c1', 'namespace': ns},
                                    'spec': {'paused': False}}).to_dict()
    watcher = watch.Watch()
    stream = watcher.stream(clusters.get, namespace=ns, serialize=False, timeout_seconds=5)
    try:
        added = next(stream)
        updated = kube_emulator.set_status(CAPI, 'Cluster', 'c1', ns, {'phase': 'Provisioned'})
        modified = next(stream)
    finally:
        watcher.stop()
        stream.close()
    replay = watch.Watch()
    replayed = []
    for event in dyn.watch(clusters, namespace=ns, resource_version=created['metadata']['resourceVersion'],
                           timeout=5, watcher=replay):
        replayed.append(event)
        replay.stop()

    assert (added['type'], added['raw_object']['metadata']['name']) == ('ADDED', 'c1')
    assert modified['type'] == 'MODIFIED'
    assert modified['raw_object']['status'] == {'phase': 'Provisioned'}
    assert modified['raw_object']['metadata']['resourceVersion'] == updated['metadata']['resourceVersion']
    assert int(updated['metadata']['resourceVersion']) > int(created['metadata']['resourceVersion'])
    assert updated['metadata']['generation'] == created['metadata']['generation']  # status only
    assert [(e['type'], e['raw_object']['status']) for e in replayed] == [('MODIFIED', {'phase': 'Provisioned'})]


def test_watch_with_a_label_selector_reports_objects_leaving_it(cms, ns):
    cms.create(body=configmap('cm', ns, labels={'app': 'web'}))
    watcher = watch.Watch()
    stream = watcher.stream(cms.get, namespace=ns, label_selector='app=web', serialize=False, timeout_seconds=5)
    try:
        first = next(stream)
        cms.patch(name='cm', namespace=ns, body={'metadata': {'labels': {'app': 'db'}}},
                  content_type='application/merge-patch+json')
        second = next(stream)
    finally:
        watcher.stop()
        stream.close()

    assert [first['type'], second['type']] == ['ADDED', 'DELETED']
    assert second['raw_object']['metadata']['labels'] == {'app': 'db'}


def test_crd_created_at_runtime_becomes_discoverable(kube_emulator, dyn, ns):
    crd = {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
        'metadata': {'name': 'widgets.demo.dokaseca.io'},
        'spec': {'group': 'demo.dokaseca.io', 'scope': 'Namespaced',
                 'names': {'plural': 'widgets', 'singular': 'widget', 'kind': 'Widget', 'listKind': 'WidgetList'},
                 'versions': [{'name': 'v1', 'served': True, 'storage': True, 'subresources': {'status': {}},
                               'schema': {'openAPIV3Schema': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}}},
                              {'name': 'v1alpha1', 'served': False, 'storage': False,
                               'schema': {'openAPIV3Schema': {'type': 'object'}}}]},
    }
    crds = dyn.resources.get(api_version='apiextensions.k8s.io/v1', kind='CustomResourceDefinition')
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version='demo.dokaseca.io/v1', kind='Widget')

    installed = dyn.server_side_apply(crds, body=crd, field_manager='argocd').to_dict()
    widgets = dyn.resources.get(api_version='demo.dokaseca.io/v1', kind='Widget')  # the same client rediscovers
    widget = widgets.create(body={'apiVersion': 'demo.dokaseca.io/v1', 'kind': 'Widget',
                                  'metadata': {'name': 'w', 'namespace': ns}, 'spec': {'size': 3}}).to_dict()
    stored = kube_emulator.objects.get('demo.dokaseca.io/v1', 'Widget', 'w', ns)
    with pytest.raises(ResourceNotFoundError):
        dyn.resources.get(api_version='demo.dokaseca.io/v1alpha1', kind='Widget')
    crds.delete(name='widgets.demo.dokaseca.io')

    established = {c['type']: c['status'] for c in installed['status']['conditions']}
    assert established == {'NamesAccepted': 'True', 'Established': 'True'}
    assert widgets.namespaced and widget['spec'] == {'size': 3}
    assert stored['metadata']['uid'] == widget['metadata']['uid']
    assert kube_emulator.objects.list('demo.dokaseca.io/v1') == []  # the widget went with its CRD
    with pytest.raises(ApiException) as gone:
        dyn.request('get', '/apis/demo.dokaseca.io/v1')
    assert gone.value.status == 404


def test_fail_next_fails_exactly_one_request_without_applying_it(kube_emulator, cms, ns):
    kube_emulator.fail_next(1, status=500, method='POST')

    with pytest.raises(ApiException) as failed:
        cms.create(body=configmap('cm', ns))
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns) is None
    cms.create(body=configmap('cm', ns))

    posts = kube_emulator.requests.filter('POST', f'/namespaces/{ns}/configmaps')
    assert (failed.value.status, status_of(failed)['reason']) == (500, 'InternalError')
    assert [(r.fault, r.status) for r in posts] == [('fail', 500), (None, 201)]
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns) is not None


def test_throttling_with_retry_after_is_retried_by_urllib3_for_reads(kube_emulator, cms, ns):
    cms.create(body=configmap('cm', ns))
    kube_emulator.fail_next(1, status=429, retry_after=0, method='GET', path_contains='/configmaps/cm')

    fetched = cms.get(name='cm', namespace=ns)

    gets = kube_emulator.requests.filter('GET', '/configmaps/cm')
    assert fetched.metadata.name == 'cm'
    assert [r.status for r in gets] == [429, 200]


def test_drop_next_closes_the_connection_without_applying(kube_emulator, cms, ns):
    kube_emulator.drop_next(1, method='POST', path_contains='/configmaps')

    with pytest.raises(urllib3.exceptions.ProtocolError):
        cms.create(body=configmap('cm', ns))
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns) is None
    cms.create(body=configmap('cm', ns))

    posts = kube_emulator.requests.filter('POST', '/configmaps')
    assert [(r.fault, r.status) for r in posts] == [('drop', None), (None, 201)]


def test_request_counting(kube_emulator, cms, ns):
    cms.create(body=configmap('a', ns))
    cms.create(body=configmap('b', ns))
    cms.get(name='a', namespace=ns)
    cms.get(namespace=ns)

    assert kube_emulator.requests.count('POST', f'/namespaces/{ns}/configmaps') == 2
    assert kube_emulator.requests.count('get', '/configmaps/a') == 1
    assert kube_emulator.requests.count('GET', f'/namespaces/{ns}/configmaps') == 2  # the get and the list
    assert kube_emulator.requests.count(status=201) == 3  # the namespace and two configmaps
    assert kube_emulator.requests.count(content_type='application/apply-patch+yaml') == 0
    assert kube_emulator.requests.count() == len(kube_emulator.requests)


def test_status_subresource_and_generation(dyn, ns):
    clusters = dyn.resources.get(api_version=CAPI, kind='Cluster')
    created = clusters.create(body={'apiVersion': CAPI, 'kind': 'Cluster', 'metadata': {'name': 'c', 'namespace': ns},
                                    'spec': {'paused': False}, 'status': {'phase': 'ignored'}}).to_dict()
    with_status = clusters.status.patch(name='c', namespace=ns, body={'status': {'phase': 'Provisioning'}},
                                        content_type='application/merge-patch+json').to_dict()
    main_patch = clusters.patch(name='c', namespace=ns, content_type='application/merge-patch+json',
                                body={'spec': {'paused': True}, 'status': {'phase': 'ignored'}}).to_dict()

    assert 'status' not in created
    assert with_status['status'] == {'phase': 'Provisioning'}
    assert with_status['metadata']['generation'] == 1
    assert main_patch['status'] == {'phase': 'Provisioning'}
    assert main_patch['spec'] == {'paused': True}
    assert main_patch['metadata']['generation'] == 2


def test_finalizers_delay_deletion_until_released(kube_emulator, cms, ns):
    cms.create(body=configmap('cm', ns, finalizers=['dokaseca.io/cleanup']))

    cms.delete(name='cm', namespace=ns)
    terminating = kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns)
    cms.patch(name='cm', namespace=ns, body={'metadata': {'finalizers': None}}, content_type='application/merge-patch+json')

    assert terminating['metadata']['deletionTimestamp']
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns) is None
    assert kube_emulator.objects.history('v1', 'ConfigMap', 'cm', ns)[-1] is None


def test_deleting_a_namespace_deletes_its_contents(kube_emulator, core, cms, ns):
    cms.create(body=configmap('cm', ns))

    core.delete_namespace(ns)

    assert kube_emulator.objects.get('v1', 'Namespace', ns) is None
    assert kube_emulator.objects.get('v1', 'ConfigMap', 'cm', ns) is None
    with pytest.raises(ApiException) as gone:
        core.create_namespaced_config_map(ns, {'metadata': {'name': 'late'}})
    assert gone.value.status == 404


def test_secrets_string_data_becomes_data(core, ns):
    secret = core.create_namespaced_secret(ns, {'metadata': {'name': 's'}, 'stringData': {'token': 'abc'}})
    with pytest.raises(ApiException) as not_a_string:
        core.create_namespaced_config_map(ns, {'metadata': {'name': 'cm'}, 'data': {'replicas': 3}})

    assert secret.data == {'token': 'YWJj'}
    assert secret.string_data is None
    assert secret.type == 'Opaque'
    assert (not_a_string.value.status, status_of(not_a_string)['reason']) == (400, 'BadRequest')


def test_requests_need_the_kubeconfig_token(kube_emulator):
    http = urllib3.PoolManager()
    try:
        anonymous = http.request('GET', f'{kube_emulator.url}/api/v1/namespaces')
        version = http.request('GET', f'{kube_emulator.url}/version')
        authorized = http.request('GET', f'{kube_emulator.url}/api/v1/namespaces',
                                  headers={'Authorization': f'Bearer {kube_emulator.token}'})
    finally:
        http.clear()

    assert (anonymous.status, json.loads(anonymous.data)['reason']) == (401, 'Unauthorized')
    assert (version.status, json.loads(version.data)['gitVersion']) == (200, 'v1.33.0+kube-emulator')
    assert json.loads(authorized.data)['kind'] == 'NamespaceList'


def test_kmock_reactions_take_precedence_until_reset(kube_emulator, api):
    versions = kubernetes.client.VersionApi(api)
    kube_emulator.handler['get', re.compile(r'/version/?')] << dict(VERSION_INFO, minor='99', gitVersion='v1.99.0-kmock')

    overridden = versions.get_code().git_version
    kube_emulator.reset()

    assert overridden == 'v1.99.0-kmock'
    assert versions.get_code().git_version == 'v1.33.0+kube-emulator'


def test_reset_restores_the_initial_state(kube_emulator, dyn, cms, ns):
    clusters = dyn.resources.get(api_version=CAPI, kind='Cluster')
    old_rv = cms.create(body=configmap('cm', ns)).metadata.resourceVersion
    kube_emulator.fail_next(5)
    cache = default_discovery_cache_path(kube_emulator.url)
    assert cache.exists()

    kube_emulator.reset()

    assert kube_emulator.objects.get('v1', 'Namespace', ns) is None
    assert kube_emulator.objects.get('v1', 'Namespace', 'default') is not None
    assert kube_emulator.objects.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'clusters.cluster.x-k8s.io')
    assert len(kube_emulator.requests) == 0
    assert not cache.exists()
    assert clusters.get(namespace='default').items == []  # not failed: the faults are gone too
    with pytest.raises(ApiException) as expired:
        next(watch.Watch().stream(cms.get, namespace='default', resource_version=old_rv, serialize=False,
                                  timeout_seconds=2))
    assert expired.value.status == 410


def test_two_emulators_are_independent(shared_folder):
    with KubeEmulator([shared_folder / 'crds']) as one, KubeEmulator([], namespaces=['only']) as two:
        one.objects.create({'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'x', 'namespace': 'default'}})

        assert one.url != two.url
        assert two.objects.get('v1', 'Namespace', 'default') is None
        assert [n['metadata']['name'] for n in two.objects.list('v1', 'Namespace')] == ['only']
        assert two.objects.list('apiextensions.k8s.io/v1', 'CustomResourceDefinition') == []
        assert one.objects.get('v1', 'ConfigMap', 'x', 'default')['metadata']['uid']
    assert not one.running and not two.running
