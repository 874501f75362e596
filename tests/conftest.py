pytest_plugins = ["dokaseca.testing"]
