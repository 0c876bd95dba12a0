from flows import flow

flow.run()
