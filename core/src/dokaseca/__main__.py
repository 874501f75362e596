from dokaseca.cli import main

main()
