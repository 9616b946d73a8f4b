import FlipSyncCore
print("flipsyncctl")
