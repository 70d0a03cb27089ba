from fmirror.cli import main

raise SystemExit(main())
