from dart_hf.cli import main

main()
