# At the root so that tests/ and every provider's tests/ get the fixtures, and
# dokaseca.testing is registered before any test module imports its helpers.
pytest_plugins = ["dokaseca.testing"]

# The Kubernetes API emulator the apply/GitOps tests drive the real client against.
from kube_emulator import kube_emulator  # noqa: E402,F401
