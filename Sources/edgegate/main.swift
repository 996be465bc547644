print("edgegate")
