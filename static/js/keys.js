// Keyboard shortcuts (see DESIGN.md §7); filled in with the dashboard.
