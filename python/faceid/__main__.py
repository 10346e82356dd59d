from faceid.cli.main import main

raise SystemExit(main())
