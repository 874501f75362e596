# At the root so that tests/ and every provider's tests/ get the fixtures, and
# dokaseca.testing is registered before any test module imports its helpers.
pytest_plugins = ["dokaseca.testing"]
