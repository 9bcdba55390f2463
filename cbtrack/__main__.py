from cbtrack.entry import main

main()
