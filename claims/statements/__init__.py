"""Monthly settlement statements with each provider (月度结算单): close, approve, pay, reconcile."""
