from cbtrack.cli import main

main()
