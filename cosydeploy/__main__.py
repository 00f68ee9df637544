from cosydeploy.cli.main import main

main()
