from ottwatch.cli import main

main()
