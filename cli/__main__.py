from opsledger.cli.main import main

main()
