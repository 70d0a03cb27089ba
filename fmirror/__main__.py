from fmirror.entry import main

raise SystemExit(main())
